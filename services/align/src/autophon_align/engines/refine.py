"""Moving word edges next to pauses onto the speech itself, and vowel onsets after sonorants.

An HMM aligner at 10 ms frames places a word's edge beside a pause tens of milliseconds off:
three-state phone models have minimum durations, cepstral features are smeared over 25 ms
windows, and a pause may be swallowed by a neighbouring word's first or last phone (a stop's
silent closure looks like the pause). Phoneticians put those edges where the speech starts or
stops, which short-time energy shows well. So, after alignment:

1. A word whose first (last) phone starts (ends) with at least ``MIN_PAUSE`` of low energy
   gives that stretch back to the pause; a vowel or nasal, which has no silent closure, with
   ``MIN_SONORANT_PAUSE`` (a vowel-initial "and" after a comma took in 100-135 ms of it on
   Festival's HTS voice, 70-90 ms early). A phone quiet to its last ``MIN_PHONE`` gives back
   all but that (a sentence-initial "the" whose DH took in 0.2 s and whose voicing began too
   weak to cross the threshold was 175 ms early). A vowel or nasal joined to the word before
   counts the quiet end of that word too: the aligner may split a pause it left out between
   the two (espeak-ng's en-us+f3 and en+f2 "omelette, and", "zyzzyvas, and" began 33-52 ms
   early, 45-49 ms of a 110 ms pause in the vowel). A vowel's or nasal's pause may also start
   up to ``WINDOW`` into it, after the end of the word before (Festival's ked joined "day,
   and" 45 ms before the end of "day,"'s vowel, and "and" took in that tail and the 0.24 s
   pause: 291 ms early, now within 20 ms; no edge of the bench's conditions moved).
2. A word edge next to a pause (a gap of at least ``MIN_GAP``) moves, within ``WINDOW``, to
   where the energy crosses a threshold between the pause's noise floor and the speech level.

A word ending in a vowel that stops abruptly into a breath tail ends where the breath begins, in
both steps: some voices end a phrase in 0.1 s of breath noise 25-40 dB below the vowel, above
that threshold (espeak-ng's en-us+f3: "quickly," and "early," ended 100 and 80 ms late, and the
vowel-initial words after them started 50 ms early; a real voice's breathy phrase ends are
alike). The fall must be ``TAIL_DROP_DB`` within ``TAIL_DROP_SPAN``, the rest of the phone
``TAIL_BELOW_DB`` below the vowel; a gradual decay is not cut, and neither is a fall behind a
consonant (a fricative's weak tail is its own). The next word's onset is not looked for inside
that tail. Measured: held-out en-us+f3 phrase ends 49 and 21 ms late -> 1-2 ms; no edge of
Festival's voices moved. Where the aligner took the tail and the pause after it into the word,
the fall is looked for from the start of the word's last sonorants: the adapted pass of held-out
en+f2 stretched "dinner,"'s N and ER over its breath tail, the fall inside the IH, and the word
ended 140 ms late (now within 20 ms; no other edge of the bench's conditions moved).

A silence shorter than ``MAX_CLOSURE`` before a word that starts with a stop (or an
affricate) is its closure, not a pause, even where the aligner put a pause there (or the onset
search left one): the word starts where the one before it ends, as both synthesisers count a
stop's closure to the stop in connected speech. espeak-ng's "ate quickly" (175 words a
minute) and "bought twelve", "ripe peaches", "the children" (130) started 45-57 ms late, at the
burst. After a real pause the closure cannot be told from the pause and the word starts at its
burst.

A word-final stop's release may lie in what the aligner took for a pause: read slowly, "ate
quickly" is a vowel, the /t/'s closure (45 ms), its aspirated release (70 ms) and the /k/'s
closure (40 ms), and the aligner put the /t/ in the vowel's last frames and the rest in a
pause, beyond the end window. So where that window ends in sound after a stop, the word ends
where a burst after the first quiet run (a closure of ``MIN_CLOSURE`` to ``MAX_CLOSURE``) falls
quiet again within ``MAX_RELEASE`` (a breath lasts longer), and a stop-initial word a closure
after it starts there (above). The check sentences read slowly: "ate" had ended 135 ms early
and "quickly," started 75 ms late, now both within 20 ms; held-out en-us +4 edges within 10 ms,
Scottish +1 within 20; no other condition of the bench's 61 moved, nor the in-breath ones
with two more seeds.

An /h/ after a pause is aspiration that rises from the floor over 30-60 ms in Festival's and
MBROLA's voices, and the threshold found it late: words opening sentences with /h/ ("He",
"Hannah", "How", "Hold", "Hurry") started 47-77 ms late in Festival's slt, 10-57 in kal and
ked, 10-32 in MBROLA's us1, us2 and en1 (espeak-ng's /h/ starts at full strength, found
within 3 ms). Such a word starts where the rise begins: back from the threshold while the
level ``RISE_SPAN`` earlier is ``RISE_DB`` lower. On eight sentences of such words (chosen
there) and eight more made to check it, in five espeak-ng voices, Festival's three and
MBROLA's three: Festival's and MBROLA's /h/ onsets within 0-14 ms but for three of 96 (slt's
"Hugo" 64 ms late, "He" 19 early, ked's "Hurry," 31 early as before), espeak-ng's 2 ms earlier
than before (4-5 ms early); word edges within 20 ms slt 79.0 -> 84.7 and 86.8 -> 92.1 %, ked
68.5 -> 75.8 and 67.5 -> 75.4, kal +3.2 and +1.7, MBROLA us1 +6.5 and +5.2; espeak-ng's
en-us+f3 and RP lost 4 and 2 edges elsewhere on the second set, through the speaker
adaptation's statistics. The bench's sentences have no /h/ word after a pause: no English
edge of its conditions moved (Danish lost one, through the adaptation). The sentences are
bench/speech.py's H_INITIAL and H_INITIAL_CHECK. Where the aligner began an /h/ early, in the
pause, its aspiration may stay under the threshold to the /h/'s aligned end; the threshold is
then looked for in the phone after it too (kal's "Have" had started 42 ms early, at the
aligner's start, once the speaker adaptation moved it; no other edge of the two /h/ sets in
eleven voices nor of the languages' conditions with an /h/ after a pause moved).

A word after a pause starts where its level rises above nearly all of that pause (by
``ABOVE_PAUSE_DB`` over the ``PAUSE_QUANTILE`` of its last ``PAUSE_SPAN``), back from where
the threshold found it, within the onset's window: a sound far below the speech but clearly
out of the pause is the word's. MBROLA's voices begin a stop after their digital silence with
its recorded closure, 50-60 dB below the vowel (the aligner gets the silence filled with
noise 6 dB below that), Festival's HTS voice a stop's release and some sonorants with 15-30
ms that rise slowly; the threshold found them 20-75 ms late. Where the pause's own level
swings as high (room noise, a breath), nothing moves. Over the bench's 60 conditions word
edges within 20 ms 6970 -> 7004: Festival's slt +1.4 to +2.0 points in each sentence set,
ked +0.7 to +2.1, MBROLA's us2, us3 and en1 up to +3.6, Norwegian +1.6; Swedish -1.5, and
MBROLA us1, us2 and two espeak-ng voices lost one or two edges elsewhere through the speaker
adaptation. In-breath conditions with two more seeds +8 of 1736 edges, the /h/ sentences
(eight voices) +1 of 1904 (ked's "Hurry," 31 -> 70 ms early: noise 4-7 dB over the rest of
the pause's loudest lies before it). The /h/ walk above stays: without it the /h/ sentences
keep that count, but Festival's /h/ onsets lie 5-20 ms later.

A pause may hold another sound: a breath, a click, a cough. Where the level falls below the
threshold for ``SEPARATING_GAP`` or more between the word and such a sound, the word's edge is
that gap's, however the aligner and the windows above placed it: a word after a pause starts
after the last such gap before its first inner obstruent, a word before a pause ends at the
first such gap after its last inner obstruent (a word-final stop keeps its release, its closure
being such a gap, and a word after one is left alone: the stop's release may lie past its
aligned end), and a first phone that took in a pause with a breath in it gives back all of it
up to the last gap. Without this the aligner stretched words over in-breaths and the edge
search, which takes the first and last loud frames of its window, stopped in them. Measured
with in-breaths 15 dB below the speech in the pauses of the three sentence sets
(bench/speech.py ``with_breaths``: noise of 300-3000 Hz, 0.15-0.3 s, 40-120 ms from the word
beside it; espeak-ng's en-us, en and en-us+f3 and Festival's slt): word edges beside a breath
within 20 ms 52.5 -> 72.5 %, all edges 87.8 -> 89.2 %; espeak-ng en-us's sentence-initial "The"
and "Then", begun in the breath 225-349 ms early, now within 20 ms (its largest errors 37-61
ms); 20 dB below, another seed: 70 -> 77.5 %. Festival's slt still begins such a word 0.5-0.7 s
early in some of these. Without breaths the clean conditions of the three sets moved one edge
into 20 ms and two out of it (those two through the speaker adaptation's statistics).

Two stops between words may each be released ("bought twelve", "ripe peaches", "at
Pembroke"): a closure, the first stop's burst, a second closure, the second burst. The aligner
gave the first release and the second closure to either stop: espeak-ng's "bought twelve"
ended 71 ms early in four voices and 30 ms late in another, "ripe peaches" 12-28 ms late in
four. Where the stretch from ``CLOSURE_REACH`` before the first stop to the end of the second
holds exactly two quiet runs (at least ``MIN_CLOSURE``, each ending in a burst) with at least
``MIN_RELEASE`` of sound between them, the second word starts where its own closure begins.
One closure (an unreleased first stop, as Festival's voices mostly speak such pairs) or a
shorter flicker moves nothing. Found on the held-out sentences (en 89.3 -> 92.1 %, RP and
en-us+m3 88.6 -> 90.0 %, en+f2 85.0 -> 87.9 %; ked -1.4, one edge); on six sentences
written to check it (docs/engines.md) five espeak-ng voices gained 3.0-9.1 points and
Festival's three neither gained nor lost.

The acoustic model also starts an approximant early after a consonant: a liquid (/l/, /r/)
after a stop, affricate, fricative or nasal, and a glide (/w/, /y/) after a stop or affricate,
inside words ("play", "twelve") and between them ("and left", "bright lanterns"), probably
because it takes the stop's release (after a voiceless stop the approximant is devoiced) or the
consonant's last moments for the approximant. Both synthesisers put those boundaries later:
11-20 ms (median) inside words, 7-20 ms between words, on both synthesisers' voices in each of
the three sentence sets. So ``delay_approximant_onsets`` moves them ``APPROXIMANT_ONSET_LAG``
later, where the refinement runs (in white noise at 10 dB SNR it lost 2-4 edges on Festival's
HTS voice). Chosen on the three sets, it was checked on ten sentences written for it
(docs/engines.md), in five espeak-ng voices and Festival's three: word edges within 20 ms +1.7
to +10.5 points per voice on six with liquids (Festival's slt +0.0), +3.0 to +6.0 on four with
glides (slt -3.0). On the three sets' conditions the averages rose 0.2, 1.1 and 0.5 points (per
condition -1.4, held-out slt, to +4.3, held-out en-us+f3; noisy conditions unchanged).

A word-final fricative or affricate may fade into the pause after it over 50-100 ms, and a weak
one (Festival's ked voice: its /s/ and /z/ 15-20 dB below its vowels) falls under the
threshold, which follows the vowels, long before its frication ends: "monkeys", "boxes",
"pauses" ended 56-80 ms early. So, where the pauses lie at least ``FRICATION_MIN_SNR_DB``
below the speech, ``_end_frication`` ends such a word where the fricative's own level above
``FRICATION_CUT`` falls ``FRICATION_BELOW_PEAK_DB`` below its usual level (90th percentile)
or to ``FRICATION_ABOVE_PAUSE_DB`` over the pause's in that band (ked's pauses hold
low-frequency room noise), if that is later. The synthesisers end such fades at different
depths: ked where the fade meets its pause noise (40-46 dB down), kal 35-45 dB down, slt's
HTS voice 20-30 dB down before a sentence end. At 35 dB, over the three sentence sets: ked
+11 edges within 20 ms (71.7 -> 74.3, 80.0 -> 83.6, 81.0 -> 82.4 %), kal +1 and -2 (two
edges moved by the speaker adaptation), slt -2 (its sentence-final "bridge.", "fox." now
28-29 ms late; before commas its fricatives end 1-5 ms off instead of 15-20), MBROLA's
voices +9 over 19 conditions, espeak-ng's abrupt fricative ends unmoved, the other languages
+4 (Czech), none lost. At 20 dB SNR, denoised (38 dB here), the residual noise
kept espeak-ng's "speech." ending 20 ms late: hence the minimum level difference.

Other edges between two words with no pause between them are left as the aligner put them (but
for those approximants and the vowel onsets below). In noise energy no longer shows where
speech starts (weak onsets and fricatives sink below the noise) and the aligner does better on
its own. So refinement runs only where speech stands at least ``MIN_SNR_DB`` above the pauses'
noise floor, measured per aligned stretch (an utterance, or a chunk of a long one); that level
difference is not the usual SNR: white noise at 20 dB SNR measures about 25 dB here, at 10 dB
about 15. Measured on connected synthetic speech (three espeak-ng voices, Festival's diphone
and HTS voices; bench/accuracy.py), refinement gains 1-6 points of word edges within 20 ms when
clean. At 20 dB SNR it gained 3 points on one voice and lost 3 on another, so it stops short of
that (30 dB). An earlier version also shifted every boundary later in noise by a lag measured
on one espeak-ng voice: it lost 9 points on Festival's HTS voice at 10 dB, so it went. (Those
were measured on the noisy signal; a noisy recording is now aligned and refined on a denoised
copy, engines/denoise.py, whose levels are measured here.) One edge is refined in noise too:
the end of a word whose last phone is a vowel, before a pause (``_end_vowels_at_pauses``). A
vowel stands well above the noise to its end, but the denoising takes its fading tail for noise
and the aligner ended such words early (Festival's HTS voice at 10 dB SNR: "yesterday.",
"window.", "sea." 25 ms early, "umbrella" 60). Measured at 10 dB SNR: the bench's six noisy
conditions +0.7 to +1.5 points of word edges within 20 ms; with two other noise seeds, on the
three sentence sets and ten new sentences, in espeak-ng's en-us and en and Festival's slt and
kal voices, +0.9 on average (-1.4 to +3.6; Festival's kal, whose vowels fade slowly, -0.7 to
-1.4). Vowel-initial words after a pause are not refined in noise: espeak-ng's gained and
Festival's slt lost (a gradual onset crosses the threshold late), and fricatives sink into the
noise (their ends were cut 50-135 ms early).

In noise the aligner also gives a word-final obstruent (a stop, affricate or fricative) before
an obstruent-initial word ("told the", "ripe peaches", "budget figures", "pauses between")
little more than its shortest duration (three 10 ms states) and the next word's consonant the
rest: the closure or the frication, filled with noise, sounds alike. Such junctions lay 20-90
ms early (espeak-ng en-us at 10 dB SNR: "carried the" 70, "ripe peaches" 82-92; clean, 1-20).
So in noise ``_split_obstruent_junctions`` moves each to the middle of the two phones, where
that is later than the aligner put it, unless the two last over ``LONGEST_OBSTRUENT_PAIR``
(they took in a pause the aligner left out: "fox. The" became 209 ms late). Measured at 10 dB
SNR with three noise seeds on the three sentence sets (espeak-ng en-us, Festival slt): word
edges within 20 ms 79.4 -> 82.0 % on average (12 of 18 conditions gained, up to 8.6 points; one
lost two edges), no largest error grown; on five voices no step was tuned on (espeak-ng en and
en-us+f3, Festival kal, MBROLA us2 and en1), one seed, 73.9 -> 77.1 %; pink noise at 10 and 20
dB 82.0 -> 84.3 %, none lost. Moving every such junction to the middle, earlier too, gained 1
point more in white noise but lost 2.6 in pink noise at 20 dB, where the aligner had them
right.

Likewise a word-final stop or affricate before a pause: in noise its closure and weak release
sound like the pause, and the aligner gave it little more than its shortest duration and ended
the word 40-115 ms early on both synthesisers' voices ("report.", "night.", "Ingrid",
"Pembroke."; median 51 ms early on espeak-ng's, 55 on Festival's; clean, where the
refinement finds the release, 4 ms late and 23 early). So in noise ``_extend_final_stops``
ends such a word ``FINAL_STOP_EXTENSION`` later where the aligner gave the stop no more than
``SHORT_FINAL_STOP``. Measured at 10 dB SNR in white noise (the three sentence sets; espeak-ng
en-us and Festival slt with three noise seeds, espeak-ng en, en-us+f3, RP and en-us+m3 and
Festival kal and ked with one): word edges within 20 ms 79.5 -> 79.9 % (+15 of 4904; 17 of
34 conditions gained, 7 lost one or two, some through the speaker adaptation), largest errors
down in 10 conditions (Pembroke. 96 -> 56 ms), up in 2; in pink noise at 10 dB (espeak-ng en-us
and en, Festival slt and kal) -2 of 1736, Festival's slt, whose final /t/ is short, overshooting;
at 20 dB SNR and under other voices (the bench's four conditions) +1 of 608.

The acoustic model also starts a vowel-initial word late when the word before it ends in a
voiced sonorant (a vowel, nasal, liquid or glide) with no pause between them: "in a", "the
old", "little orchestra" (probably because its word-initial vowels were learned mostly after a
pause or a glottal onset, so the smooth transition out of a sonorant is taken for the
sonorant). On Festival's voices such junctions were 16-21 ms late after /n/, /l/ and schwa
(none after /iy/), on espeak-ng's 15-35 ms (espeak-ng also gives a linking /n/ or /m/ to the
vowel-initial word: its "in a" is [I] [na]); so ``advance_vowel_onsets`` moves them
``VOWEL_ONSET_LEAD`` earlier, in noise too. Word edges within 20 ms, averaged over the
conditions of bench/accuracy.py: +0.7 points on the tuned sentences, +2.5 on the held-out
ones, and +1.9 on six more sentences made only to check it; per voice from -3.6 (espeak-ng's
en-us+f3 on the check set) to +5.7. A 20 ms lead gained as much on espeak-ng's voices and
less on Festival's, 10 ms less on both. After a vowel the lead is only
``VOWEL_ONSET_LEAD_AFTER_VOWEL``: with 15 ms, vowel-vowel junctions ("the old", "story
about") lay 9 ms early (median) on both synthesisers' voices over all three sentence sets, 17
ms early in espeak-ng's speech at 130 words a minute; with 5 ms the sets' averages went +0.5,
0.0 and +0.9 points (with the closure above), slow espeak-ng speech +0.7 to +7.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from autophon_align.engines.arpabet import (
    AFFRICATES,
    FRICATIVES,
    GLIDES,
    LIQUIDS,
    NASALS,
    OBSTRUENTS,
    SONORANTS,
    STOPS_AND_AFFRICATES,
    VOWELS,
)

FRAME = 0.005  # analysis window (s)
HOP = 0.001  # step of the edge search (s)
WINDOW = 0.08  # how far an edge next to a pause may move (s)
MIN_PAUSE = 0.12  # low-energy stretch inside a word's edge phone that counts as a pause (s)
# The same for a vowel or nasal, which holds no silent closure as a stop does (a liquid or a
# glide may fade below the threshold: a ked voice's word-final /l/ did for 80 ms).
MIN_SONORANT_PAUSE = 0.05
# A word whose edge phone took in a pause may still begin (end) this far (s) inside the speech
# beside it: the aligner's edges fall on 10 ms frames, the energy's every HOP.
EDGE_SLACK = 0.02
MIN_GAP = 0.03  # gap between words that counts as a pause (s)
MIN_PHONE = 0.01  # shortest phone left after moving an edge (s)
SUSTAIN = 3  # consecutive loud frames that make an onset
ABOVE_NOISE_DB = 10.0
# An edge is where the level crosses this far below the speech level (or ABOVE_NOISE_DB above
# the noise floor, whichever is higher): 40 dB found the tail of a decaying vowel, 30 ms after
# both synthesisers' segment ends; 30 dB is within 20 ms of them for 81% of edges (70%).
BELOW_SPEECH_DB = 30.0
FLOOR_DB = -90.0
# Speech level (90th percentile) over the pauses' noise floor (median) below which nothing
# is refined.
MIN_SNR_DB = 30.0
# A vowel that ends in a breath tail (see above): the level falls by TAIL_DROP_DB within
# TAIL_DROP_SPAN and stays TAIL_BELOW_DB below the vowel after that.
TAIL_DROP_DB = 20.0
TAIL_DROP_SPAN = 0.01
TAIL_BELOW_DB = 15.0
# How much earlier a vowel-initial word joined to a voiced sonorant starts (s; see above).
VOWEL_ONSET_LEAD = 0.015
VOWEL_ONSET_LEAD_AFTER_VOWEL = 0.005
# A silence shorter than this (s) before a word starting with a stop is taken for the stop's
# closure (see above).
MAX_CLOSURE = 0.09
# Two stops between words, each with its own closure (see above): quiet runs at least
# MIN_CLOSURE long, looked for from CLOSURE_REACH before the first stop, separated by a release
# at least MIN_RELEASE long (s).
MIN_CLOSURE = 0.015
CLOSURE_REACH = 0.03
MIN_RELEASE = 0.02
# The longest release (s) of a word-final stop left in a pause after it (see above).
MAX_RELEASE = 0.1
# An /h/ after a pause starts where its level begins to rise: back from the threshold while
# the level RISE_SPAN (s) earlier is RISE_DB lower (see above).
RISE_SPAN = 0.02
RISE_DB = 1.0
# A word after a pause starts where its level rises above the PAUSE_QUANTILE of the levels of
# the last PAUSE_SPAN (s) of the pause by ABOVE_PAUSE_DB (see above).
PAUSE_SPAN = 0.3
PAUSE_QUANTILE = 0.95
ABOVE_PAUSE_DB = 1.0
# A quiet gap at least this long (s) between a word and another sound in the pause beside
# it (a breath, a click) sets the word's edge (see above).
SEPARATING_GAP = 0.03
# How much later an approximant starts after a consonant (s; see above).
APPROXIMANT_ONSET_LAG = 0.015
# In noise, a word-final stop before a pause aligned no longer than SHORT_FINAL_STOP ends
# FINAL_STOP_EXTENSION later (s; see above).
SHORT_FINAL_STOP = 0.06
FINAL_STOP_EXTENSION = 0.04
# Two obstruents aligned longer than this together (s) took in a pause between sentences the
# aligner left out; the synthesisers' pairs last 0.1-0.2 s.
LONGEST_OBSTRUENT_PAIR = 0.25
WITHOUT_CLOSURE = VOWELS | NASALS  # phones a pause inside cannot be a silent closure of
# A word-final fricative or affricate before a pause of at least FRICATION_MIN_PAUSE (s) ends
# where its level above FRICATION_CUT (Hz), in FRICATION_FRAME windows every FRICATION_HOP
# (s), falls FRICATION_BELOW_PEAK_DB below its usual level (the FRICATION_PEAK_QUANTILE of its
# windows) or to FRICATION_ABOVE_PAUSE_DB over the pause's (its FRICATION_PAUSE_QUANTILE),
# where the pauses lie FRICATION_MIN_SNR_DB below the speech (see above).
FRICATION = (FRICATIVES - {"HH"}) | AFFRICATES
FRICATION_CUT = 3000.0
FRICATION_FRAME = 0.005
FRICATION_HOP = 0.002
FRICATION_MIN_PAUSE = 0.1
FRICATION_BELOW_PEAK_DB = 35.0
FRICATION_ABOVE_PAUSE_DB = 4.0
FRICATION_PAUSE_QUANTILE = 0.3
FRICATION_PEAK_QUANTILE = 0.9
FRICATION_MIN_SNR_DB = 45.0


@dataclass
class Segment:
    """A word or phone, in seconds from the start of ``samples``."""

    label: str
    start: float
    end: float
    phones: list[Segment] = field(default_factory=list)


class Energy:
    def __init__(self, samples: array[int], rate: int) -> None:
        self.samples = samples
        self.rate = rate

    def db(self, start: float, length: float = FRAME) -> float:
        """Mean power in dBFS of ``length`` seconds from ``start``."""
        i0 = max(0, int(start * self.rate))
        i1 = min(len(self.samples), int((start + length) * self.rate))
        if i1 <= i0:
            return FLOOR_DB
        power = sum(x * x for x in self.samples[i0:i1]) / (i1 - i0)
        return max(FLOOR_DB, 10 * math.log10(power / 32768**2)) if power else FLOOR_DB

    def frames(self, start: float, end: float) -> list[tuple[float, float]]:
        """(time, dB) every HOP seconds over [start, end)."""
        count = max(0, int((end - start) / HOP))
        return [(start + i * HOP, self.db(start + i * HOP)) for i in range(count)]


@dataclass(frozen=True)
class Levels:
    """The pauses' noise floor (median) and the speech level (90th percentile), dBFS."""

    noise: float
    speech: float

    @property
    def difference(self) -> float:
        return self.speech - self.noise


def levels_of(words: list[Segment], samples: array[int], rate: int) -> Levels:
    """The levels of the pauses between ``words`` (sorted) and of the words themselves."""
    energy = Energy(samples, rate)
    return Levels(*_levels_of(words, energy, len(samples) / rate))


def refine_words(
    words: list[Segment],
    samples: array[int],
    rate: int,
    levels: Levels,
    word_before: float | None = None,
) -> None:
    """Refine the edges of ``words`` (sorted, non-overlapping, each with phones) in place;
    ``levels`` are ``levels_of`` them; ``word_before`` is where a word before the first one
    ends, when ``samples`` hold one (s)."""
    if not words or any(not word.phones for word in words):
        return
    energy = Energy(samples, rate)
    duration = len(samples) / rate
    threshold = max(levels.noise + ABOVE_NOISE_DB, levels.speech - BELOW_SPEECH_DB)
    if levels.difference < MIN_SNR_DB:
        _end_vowels_at_pauses(words, energy, threshold, duration)
        _split_obstruent_junctions(words)
        _extend_final_stops(words, duration)
        return
    # Where each word's end stood before a breath tail was cut off it (else its end): the next
    # word's onset is not looked for inside that tail.
    tail_ends = [
        _give_back_pauses(word, energy, threshold, _quiet_before(words, i, energy, threshold))
        for i, word in enumerate(words)
    ]
    for i, word in enumerate(words):
        before = words[i - 1].end if i else word_before
        previous_end = before or 0.0
        next_start = words[i + 1].start if i + 1 < len(words) else duration
        first, last = word.phones[0], word.phones[-1]
        if word.start - previous_end >= MIN_GAP:
            lo = max(previous_end, tail_ends[i - 1] if i else 0.0, word.start - WINDOW)
            released = i > 0 and words[i - 1].phones[-1].label in STOPS_AND_AFFRICATES
            onset = None if released else _start_after_other_sound(word, energy, lo, threshold)
            if onset is None:
                # An /h/ the aligner began early may stay under the threshold to its end.
                searched = word.phones[1] if first.label == "HH" and word.phones[1:] else first
                hi = min(word.start + WINDOW, searched.end - MIN_PHONE)
                # A stop's burst just before hi is confirmed by loud frames past it.
                reach = SUSTAIN * HOP if first.label in STOPS_AND_AFFRICATES else 0.0
                onset = _onset(energy.frames(lo, hi + reach), threshold)
            if onset is not None:
                _start_at(word, onset)
            if first.label == "HH":
                _start_at(word, _rise_start(energy, word.start, lo))
            _start_at(word, _sound_start(energy, word.start, lo, previous_end))
        closure = before is not None and 0 < word.start - before < MAX_CLOSURE
        if closure and first.label in STOPS_AND_AFFRICATES:
            _start_at(word, previous_end)
        if next_start - word.end >= MIN_GAP:
            lo, hi = _end_window(word, next_start)
            frames = energy.frames(lo, hi)
            offset = _offset(frames, threshold)
            tail = _breath_tail(last, frames)
            if tail is not None:
                tail_ends[i] = max(tail_ends[i], hi if offset is None else offset)
                offset = tail
            elif last.label not in STOPS_AND_AFFRICATES:  # a final stop's closure looks like one
                other = _end_before_other_sound(word, energy, next_start, threshold)
                offset = offset if other is None else other
            elif offset is None:
                offset = _release_past(word, energy, lo, next_start, threshold)
            if offset is not None:
                _end_at(word, offset)
    _split_released_stops(words, energy, threshold)
    if levels.difference >= FRICATION_MIN_SNR_DB:
        _end_frication(words, samples, rate, duration)
    delay_approximant_onsets(words)


def _end_frication(words: list[Segment], samples: array[int], rate: int, duration: float) -> None:
    """End each word whose last phone is a fricative or an affricate before a pause (of at
    least FRICATION_MIN_PAUSE) where its frication ends, if that is later (see above)."""
    frame = round(FRICATION_FRAME * rate)
    hop = round(FRICATION_HOP * rate)
    taper = np.hanning(frame)
    high = np.fft.rfftfreq(frame, 1 / rate) >= FRICATION_CUT
    for word, next_start in _before_pauses(words, duration):
        last = word.phones[-1]
        own = round((word.end - last.start) / FRICATION_HOP)  # frames centred in the phone
        if last.label not in FRICATION or next_start - word.end < FRICATION_MIN_PAUSE or own < 2:
            continue
        begin = max(0, round(last.start * rate) - frame // 2)
        block = np.asarray(samples[begin : round(next_start * rate)], dtype=np.float64)
        starts = range(0, len(block) - frame + 1, hop)
        spectra = np.fft.rfft(np.stack([block[i : i + frame] * taper for i in starts]), axis=1)
        high_db = 10 * np.log10((np.abs(spectra[:, high]) ** 2).sum(axis=1) + 1e-9)
        pause = high_db[own:]
        threshold = max(
            float(np.quantile(pause, FRICATION_PAUSE_QUANTILE)) + FRICATION_ABOVE_PAUSE_DB,
            float(np.quantile(high_db[:own], FRICATION_PEAK_QUANTILE)) - FRICATION_BELOW_PEAK_DB,
        )
        reach = min(len(pause), round(WINDOW / FRICATION_HOP))
        loud = next((k for k in range(reach) if pause[k] < threshold), reach)
        end = min(word.end + loud * FRICATION_HOP, next_start - MIN_GAP)
        if end > word.end:
            _end_at(word, end)


def _split_released_stops(words: list[Segment], energy: Energy, threshold: float) -> None:
    """Start each stop-initial word that follows a word ending in a released stop, with no
    pause between them, where its own closure begins (see above)."""
    for before, word in itertools.pairwise(words):
        last, first = before.phones[-1], word.phones[0]
        two_stops = last.label in STOPS_AND_AFFRICATES and first.label in STOPS_AND_AFFRICATES
        if word.start > before.end or not two_stops:
            continue
        frames = energy.frames(last.start - CLOSURE_REACH, first.end)
        closures = _quiet_runs(frames, threshold, MIN_CLOSURE)
        if len(closures) != 2 or closures[1][0] - closures[0][1] < MIN_RELEASE:
            continue
        start = min(max(closures[1][0], last.start + MIN_PHONE), first.end - MIN_PHONE)
        _join_at(before, word, start)


def _rise_start(energy: Energy, onset: float, lo: float) -> float:
    """Where the rise of the level through ``onset`` begins: back from ``onset``, not before
    ``lo``, while the level RISE_SPAN earlier is at least RISE_DB lower."""
    time = onset
    while time - HOP >= lo and energy.db(time - HOP - RISE_SPAN) < energy.db(time - HOP) - RISE_DB:
        time -= HOP
    return time


def _sound_start(energy: Energy, onset: float, lo: float, pause_start: float) -> float:
    """Where the sound of a word after a pause starts: back from ``onset``, not before ``lo``,
    while the level stays above nearly all of the pause before ``lo`` (from ``pause_start``;
    see above); ``onset`` when that runs to ``lo`` or too little of the pause is left."""
    pause = sorted(db for _, db in energy.frames(max(pause_start, lo - PAUSE_SPAN), lo))
    if len(pause) * HOP < MIN_GAP:
        return onset
    louder = pause[int(len(pause) * PAUSE_QUANTILE)] + ABOVE_PAUSE_DB
    time = onset
    while energy.db(time - HOP) >= louder:
        time -= HOP
        if time - HOP < lo:
            return onset
    return time


def _release_past(
    word: Segment, energy: Energy, lo: float, next_start: float, threshold: float
) -> float | None:
    """Where the release of ``word``'s last phone, a stop, ends when its end window (from
    ``lo``) ended in it: a burst after the first quiet run, a closure of MIN_CLOSURE to
    MAX_CLOSURE, quiet again within MAX_RELEASE (None when there is no such burst)."""
    frames = energy.frames(lo, min(next_start, word.end + WINDOW + MAX_RELEASE))
    closures = _quiet_runs(frames, threshold, MIN_CLOSURE)
    if not closures or closures[0][1] - closures[0][0] > MAX_CLOSURE:
        return None
    release_end = closures[0][1] + MAX_RELEASE + SUSTAIN * HOP
    return _offset([f for f in frames if closures[0][1] <= f[0] < release_end], threshold)


def _quiet_runs(
    frames: list[tuple[float, float]], threshold: float, least: float
) -> list[tuple[float, float]]:
    """The (start, end) of each run of ``frames`` below ``threshold``, at least ``least`` long,
    that ends inside them."""
    runs: list[tuple[float, float]] = []
    start: float | None = None
    for time, db in frames:
        if db < threshold and start is None:
            start = time
        elif db >= threshold and start is not None:
            if time - start >= least:
                runs.append((start, time))
            start = None
    return runs


def _end_vowels_at_pauses(
    words: list[Segment], energy: Energy, threshold: float, duration: float
) -> None:
    """In noise, end each word whose last phone is a vowel and that a pause follows where
    its level falls below ``threshold`` (see above)."""
    for word, next_start in _before_pauses(words, duration):
        if word.phones[-1].label in VOWELS:
            offset = _offset(energy.frames(*_end_window(word, next_start)), threshold)
            if offset is not None:
                _end_at(word, offset)


def _extend_final_stops(words: list[Segment], duration: float) -> None:
    """In noise, end each word whose last phone is a stop or affricate aligned no longer than
    SHORT_FINAL_STOP, and that a pause follows, FINAL_STOP_EXTENSION later, leaving at least
    MIN_GAP of the pause (see above)."""
    for word, next_start in _before_pauses(words, duration):
        last = word.phones[-1]
        if last.label in STOPS_AND_AFFRICATES and last.end - last.start <= SHORT_FINAL_STOP:
            _end_at(word, min(word.end + FINAL_STOP_EXTENSION, next_start - MIN_GAP))


def _before_pauses(words: list[Segment], duration: float) -> Iterator[tuple[Segment, float]]:
    """Each of ``words`` that a pause (at least MIN_GAP) follows, with where the next word
    starts (``duration`` after the last word)."""
    for i, word in enumerate(words):
        next_start = words[i + 1].start if i + 1 < len(words) else duration
        if next_start - word.end >= MIN_GAP:
            yield word, next_start


def _split_obstruent_junctions(words: Sequence[Segment]) -> None:
    """In noise, move each junction between a word ending in an obstruent and one starting
    with an obstruent, with no pause between them, to the middle of those two phones where
    the aligner gave the first the shorter part (see above)."""
    for before, word in itertools.pairwise(words):
        last, first = before.phones[-1], word.phones[0]
        if word.start > before.end or last.label not in OBSTRUENTS or first.label not in OBSTRUENTS:
            continue
        if first.end - last.start > LONGEST_OBSTRUENT_PAIR:
            continue  # they took in a pause
        middle = (last.start + first.end) / 2
        if middle > word.start:
            _join_at(before, word, middle)


def _start_after_other_sound(
    word: Segment, energy: Energy, lo: float, threshold: float
) -> float | None:
    """Where ``word`` starts when a sound of the pause before it (a breath, a click) lies
    after ``lo``, a quiet gap before the word: after the last such gap before its first
    inner obstruent (None when there is none)."""
    inner = next((p.start for p in word.phones[1:] if p.label in OBSTRUENTS), word.end)
    gaps = _gaps_between_sounds(energy.frames(lo, inner - MIN_PHONE), threshold)
    return gaps[-1][1] if gaps else None


def _start_at(word: Segment, time: float) -> None:
    """Start ``word`` (and its first phone) at ``time``; phones that would be left shorter
    than MIN_PHONE are squeezed to it, the next ones starting later."""
    word.start = start = min(time, word.end - MIN_PHONE * len(word.phones))
    for phone in word.phones:
        phone.start = start
        if phone.end - start >= MIN_PHONE:
            break
        phone.end = start = start + MIN_PHONE


def _end_at(word: Segment, time: float) -> None:
    """End ``word`` (and its last phone) at ``time``; phones that would be left shorter than
    MIN_PHONE are squeezed to it, the ones before ending earlier."""
    word.end = end = max(time, word.start + MIN_PHONE * len(word.phones))
    for phone in reversed(word.phones):
        phone.end = end
        if end - phone.start >= MIN_PHONE:
            break
        phone.start = end = end - MIN_PHONE


def _end_before_other_sound(
    word: Segment, energy: Energy, next_start: float, threshold: float
) -> float | None:
    """Where ``word`` ends when a sound of the pause after it (a breath, a click) follows it
    within WINDOW, a quiet gap after it: before the first such gap after its last inner
    obstruent (None when there is none)."""
    inner = [p.end for p in word.phones[:-1] if p.label in OBSTRUENTS]
    lo = (inner[-1] if inner else word.start) + MIN_PHONE
    hi = min(word.end + WINDOW, next_start - FRAME)
    gaps = _gaps_between_sounds(energy.frames(lo, hi), threshold)
    return gaps[0][0] if gaps else None


def _gaps_between_sounds(
    frames: list[tuple[float, float]], threshold: float
) -> list[tuple[float, float]]:
    """Each run of ``frames`` below ``threshold``, at least SEPARATING_GAP long, with SUSTAIN
    loud frames on either side: where the sound before it ends and the one after it starts
    (as ``_offset`` and ``_onset`` give them)."""
    loud = [db >= threshold for _, db in frames]
    gaps = []
    for start, end in _quiet_runs(frames, threshold, SEPARATING_GAP):
        i, j = (round((time - frames[0][0]) / HOP) for time in (start, end))
        after = loud[j : j + SUSTAIN]
        if i >= SUSTAIN and all(loud[i - SUSTAIN : i]) and len(after) == SUSTAIN and all(after):
            gaps.append((frames[i - 1][0] + FRAME, end))
    return gaps


def _end_window(word: Segment, next_start: float) -> tuple[float, float]:
    """Where ``word``'s end may move to before a pause that ends at ``next_start`` (s)."""
    lo = max(word.end - WINDOW, word.phones[-1].start + MIN_PHONE)
    return lo, min(word.end + WINDOW, next_start)


def advance_vowel_onsets(words: Sequence[Segment]) -> None:
    """Move each junction of ``words`` (sorted, each with ARPAbet phones) where a vowel-initial
    word follows a word ending in a sonorant, with no pause between, VOWEL_ONSET_LEAD earlier
    (VOWEL_ONSET_LEAD_AFTER_VOWEL after a vowel; less where the sonorant would be left shorter
    than MIN_PHONE); in place."""
    for before, word in itertools.pairwise(words):
        last, first = before.phones[-1], word.phones[0]
        if word.start > before.end or last.label not in SONORANTS or first.label not in VOWELS:
            continue
        lead = VOWEL_ONSET_LEAD_AFTER_VOWEL if last.label in VOWELS else VOWEL_ONSET_LEAD
        lead = min(lead, last.end - last.start - MIN_PHONE)
        if lead > 0:
            _join_at(before, word, word.start - lead)


def _join_at(before: Segment, word: Segment, time: float) -> None:
    """Move the junction of ``before`` and ``word`` (no pause between them), with their edge
    phones, to ``time``."""
    before.end = before.phones[-1].end = word.start = word.phones[0].start = time


def delay_approximant_onsets(words: Sequence[Segment]) -> None:
    """Move each boundary of ``words`` (sorted, each with ARPAbet phones), inside a word or
    between two words with no pause between them, where a liquid follows a consonant other
    than an approximant or a glide follows a stop or affricate, APPROXIMANT_ONSET_LAG later
    (less where the approximant would be left shorter than MIN_PHONE); in place."""
    phones = [(word, phone) for word in words for phone in word.phones]
    for (word_a, a), (word_b, b) in itertools.pairwise(phones):
        after_consonant = b.label in LIQUIDS and a.label not in SONORANTS - NASALS
        after_stop = b.label in GLIDES and a.label in STOPS_AND_AFFRICATES
        if b.start > a.end or not (after_consonant or after_stop):
            continue
        lag = min(APPROXIMANT_ONSET_LAG, b.end - b.start - MIN_PHONE)
        if lag > 0:
            a.end = b.start = b.start + lag
            if word_a is not word_b:
                word_a.end = word_b.start = b.start


def _quiet_before(words: list[Segment], i: int, energy: Energy, threshold: float) -> float:
    """How long the quiet at the start of ``words[i]``, a vowel or nasal, runs back into the
    word before, joined to it (s; 0 for other words)."""
    word = words[i]
    if i == 0 or words[i - 1].end < word.start or word.phones[0].label not in WITHOUT_CLOSURE:
        return 0.0
    if energy.db(word.start) >= threshold:
        return 0.0
    last = words[i - 1].phones[-1]
    frames = energy.frames(last.start + MIN_PHONE, word.start)
    quiet = list(itertools.takewhile(lambda f: f[1] < threshold, reversed(frames)))
    return word.start - quiet[-1][0] if quiet else 0.0


def _give_back_pauses(
    word: Segment, energy: Energy, threshold: float, quiet_before: float
) -> float:
    """Give the pauses ``word``'s edge phones took in back, counting ``quiet_before`` s of a
    pause at its start that the word before took in part of; returns where its end stood
    before a breath tail was cut off it (else its end)."""
    first, last = word.phones[0], word.phones[-1]
    # A vowel or nasal holds no silence: its pause may start up to WINDOW into it.
    slack = WINDOW if first.label in WITHOUT_CLOSURE else EDGE_SLACK
    frames = _quiet_from(energy.frames(word.start, first.end - MIN_PHONE), threshold, slack)
    start = frames[0][0] if frames else word.start
    gaps = _gaps_between_sounds(frames, threshold)
    if gaps and frames[0][1] < threshold:
        # A pause with another sound in it (a breath): the word's onset is after its last gap.
        frames = [frame for frame in frames if frame[0] >= gaps[-1][0]]
    onset = _onset(frames, threshold)
    if onset is None and _all_quiet(frames, threshold):
        onset = first.end - MIN_PHONE
    if onset is not None and onset - start + quiet_before >= _least_pause(first):
        _start_at(word, onset)
    end = word.end
    # The tail is looked for from the word's last sonorants on: the aligner may have stretched
    # them over the tail, moving the last vowel's fall into the phone before it.
    sonorants = _quiet_from(energy.frames(_sonorants_start(word), word.end)[::-1], threshold)[::-1]
    frames = [frame for frame in sonorants if frame[0] >= last.start + MIN_PHONE - HOP / 2]
    tail = _breath_tail(last, sonorants)
    if tail is not None and end - tail >= _least_pause(last):
        _end_at(word, tail)
        return end
    offset = _offset(frames, threshold)
    if offset is None and _all_quiet(frames, threshold):
        offset = last.start + MIN_PHONE
    if offset is not None and frames[-1][0] + HOP - offset >= _least_pause(last):
        _end_at(word, offset)
    return word.end


def _breath_tail(phone: Segment, frames: list[tuple[float, float]]) -> float | None:
    """Where ``phone``, a vowel, falls by TAIL_DROP_DB within TAIL_DROP_SPAN and stays
    TAIL_BELOW_DB below the level just before the fall to the end of ``frames``: the start
    of its breath tail (None for other phones)."""
    if phone.label not in VOWELS:
        return None
    span = round(TAIL_DROP_SPAN / HOP)
    levels = [db for _, db in frames]
    loudest_after = list(itertools.accumulate(reversed(levels), max))[::-1]
    for i in range(len(levels) - span):
        if levels[i] - levels[i + span] < TAIL_DROP_DB:
            continue
        before = max(levels[max(0, i - span + 1) : i + 1])
        if loudest_after[i + span] <= before - TAIL_BELOW_DB:
            return frames[i + span][0]
    return None


def _sonorants_start(word: Segment) -> float:
    """Where the run of sonorants that ends ``word`` starts, MIN_PHONE into it (s)."""
    phones = list(itertools.takewhile(lambda p: p.label in SONORANTS, reversed(word.phones)))
    return (phones[-1] if phones else word.phones[-1]).start + MIN_PHONE


def _all_quiet(frames: list[tuple[float, float]], threshold: float) -> bool:
    return bool(frames) and all(db < threshold for _, db in frames)


def _least_pause(phone: Segment) -> float:
    """The low-energy stretch at the edge of ``phone`` that counts as a pause it took in."""
    return MIN_SONORANT_PAUSE if phone.label in WITHOUT_CLOSURE else MIN_PAUSE


def _quiet_from(
    frames: list[tuple[float, float]], threshold: float, slack: float = EDGE_SLACK
) -> list[tuple[float, float]]:
    """``frames`` from the first quiet one within ``slack`` of their start (all of them when
    none is quiet there)."""
    for i, (_, db) in enumerate(frames[: round(slack / HOP) + 1]):
        if db < threshold:
            return frames[i:]
    return frames


def _levels_of(words: list[Segment], energy: Energy, duration: float) -> tuple[float, float]:
    """The pauses' noise floor and the speech level (dBFS)."""
    speech: list[float] = []
    pauses: list[float] = []
    previous = 0.0
    for word in [*words, Segment("", duration, duration)]:
        pauses.extend(_levels(energy, previous, word.start))
        speech.extend(_levels(energy, word.start, word.end))
        previous = word.end
    noise = sorted(pauses)[len(pauses) // 2] if pauses else FLOOR_DB
    loud = sorted(speech)[int(len(speech) * 0.9)] if speech else 0.0
    return noise, loud


def _levels(energy: Energy, start: float, end: float, frame: float = 0.01) -> list[float]:
    # At most ~200 frames per stretch keeps this cheap on long utterances.
    count = int((end - start) / frame)
    step = max(1, count // 200)
    return [energy.db(start + i * frame, frame) for i in range(0, count, step)]


def _onset(frames: list[tuple[float, float]], threshold: float) -> float | None:
    """Start of the first run of SUSTAIN loud frames, unless the stretch starts loud."""
    for i in range(len(frames) - SUSTAIN + 1):
        if all(db >= threshold for _, db in frames[i : i + SUSTAIN]):
            return frames[i][0] if i > 0 else None
    return None


def _offset(frames: list[tuple[float, float]], threshold: float) -> float | None:
    """End of the last run of SUSTAIN loud frames, unless the stretch ends loud."""
    for i in range(len(frames) - 1, SUSTAIN - 2, -1):
        if all(db >= threshold for _, db in frames[i - SUSTAIN + 1 : i + 1]):
            return frames[i][0] + FRAME if i < len(frames) - 1 else None
    return None
