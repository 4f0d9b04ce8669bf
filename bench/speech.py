# ruff: noqa: RUF001  (Cyrillic sentences are meant)
"""Connected synthetic speech whose word and phone times are known exactly: espeak-ng's
voices (any language), timed by its own synthesis events. The one home of the espeak-ng
binding, used by the accuracy tests (services/align/tests/test_connected_accuracy.py,
test_long_recordings.py, cli/tests/test_languages_pipeline.py) and by ``make bench``
(bench/accuracy.py and bench/scale.py).

espeak-ng (through its C library, ``libespeak-ng.so.1``, with ctypes) reports, while it
synthesises, the sample at which each word and each phoneme starts. A word starts at its word
event, or, after a pause, at its first phoneme; it ends where the next word starts or where a
pause phoneme ("_", "_:", "_!") starts (one inside a word, as Polish's 18 ms syllable break
in "Wiśniewski" or Icelandic's "_|" before an r, is no pause). Phone boundaries are the
phoneme events inside a word. Word events are matched to the text's words by their text
position: espeak-ng speaks a few words as one ("was the"), which then form one timed unit whose
inner boundaries are not known, and may split a compound in two, which stays one word.

espeak-ng's MBROLA voices (``mb-us1``..., Debian's contrib and non-free packages ``mbrola`` and
``mbrola-us1``...; ``make mbrola-voices``) speak through MBROLA, a diphone synthesiser built
from recorded speech: espeak-ng hands it each phoneme and its duration (what ``espeak-ng
--pho`` prints) and reports those phonemes as events at MBROLA's rate (16 kHz), from the
first event's sample on, but counts each pause a few milliseconds shorter than MBROLA speaks
it, reports few word events, and gives some phonemes stray text positions. So each phoneme
event is moved onto the nearest boundary of those durations, summed, and a word starts at the
first phoneme whose text position lies in it, word after word (``_mbrola_events``; checked in
bench/tests).

The library keeps state from one text to the next (the same text comes out a few samples
different), so every recording is made in a fresh process (``python -m bench.speech``,
the voice, rate and texts as JSON on stdin, timings as JSON on stdout), its sentences one
after another: the same texts and voice then always give the same samples and times.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autophon_core.lexicon import normalise_words, word_spans
from bench import festival

RATE = 16000  # what ``Speech`` is at (sox resamples espeak-ng's 22050 Hz)
LIBRARY = "libespeak-ng.so.1"
_REPO_ROOT = Path(__file__).resolve().parents[1]
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_EVENT_END_OF_LIST, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAMETER_RATE = 1

# Sentences of connected speech, with names and words missing from CMUdict.
SENTENCES = (
    "Marguerite asked seven purple monkeys to dance quietly under the golden bridge.",
    "Then Oskarsson carried the heavy wooden boxes outside before the evening rain began.",
    "Professor Thibodeaux measured the formants of every vowel in her grandmother's speech.",
    "Nobody expected the little orchestra from Vlissingen to play so beautifully that night.",
    "Please gather those zyzzyvas and bring them back to the laboratory by Friday morning.",
    "A phonetician listens carefully to tiny pauses between words in natural speech.",
)
# Sentences of the same kinds that played no part in choosing any of the built-in engine's
# steps or settings: the figures on SENTENCES were tuned on, these show how far they carry.
HELD_OUT = (
    "Doctor Kowalczyk bought twelve ripe peaches at the crowded market yesterday.",
    "Before dinner, Siobhan told the children a story about a clever fox.",
    "The committee postponed its decision until the budget figures were checked again.",
    "Grandpa Takahashi keeps seventeen canaries in a cage beside the kitchen window.",
    "Could you describe the typical pattern of stress in compound nouns?",
    "Bright lanterns glowed along the path to the old lighthouse at Pembroke.",
)
# Vowel-initial words after sonorants and after commas, made to check the vowel-onset lead
# (engines/refine.py) once it was chosen on the two sets above; no setting was chosen on them.
CHECK = (
    "Eleanor opened an old atlas and traced the river from Aberdeen to the sea.",
    "My uncle Ignatius always orders an omelette and a glass of orange juice.",
    "The engineers from Oslo argued about every estimate in their yearly report.",
    "Amelia and Ivan arrived early, ate quickly, and left again at eleven.",
    "Nobody from Ottawa remembered an aria by Elgar.",
    "Our new neighbour Ingrid owns a yellow umbrella and an enormous owl.",
)
# Sentences opening with /h/ words, each after a pause: made for the /h/ onset rule
# (engines/refine.py; H_INITIAL chose its settings, H_INITIAL_CHECK checked them). No
# condition of `make bench`; test_connected_accuracy.py aligns H_INITIAL in Festival's kal.
H_INITIAL = (
    "He opened the window and looked at the garden.",
    "Hannah painted the fence green last summer.",
    "How many people came to the meeting yesterday?",
    "Her brother sold his old car to a neighbour.",
    "Henry walked home slowly through the park.",
    "Have you seen the new bridge near the station?",
    "Hungry birds gathered near the roof.",
    "Harold always reads the paper before breakfast.",
)
H_INITIAL_CHECK = (
    "Hello, said the tall man at the door.",
    "Hold the rope tightly with both hands.",
    "Half my lunch went missing today.",
    "Hope is a thing with feathers, wrote the poet.",
    "Hurry, or we will miss the last train.",
    "Hugo found a small hotel by the lake.",
    "Heavy clouds rolled over western hills.",
    "Hear those bells ringing loudly.",
)
VOICES = ("en-us", "en", "en-us+f3")
# espeak-ng's MBROLA voices (see above): American female, two American male, British male.
MBROLA_PREFIX = "mb-"
MBROLA_VOICES = tuple(MBROLA_PREFIX + name for name in ("us1", "us2", "us3", "en1"))
MBROLA_ROOT = Path("/usr/share/mbrola")
# How far (samples) an MBROLA voice's phoneme events may stray from the durations it was given:
# espeak-ng's events count a pause a few milliseconds shorter than MBROLA speaks it.
MBROLA_SLIP = 320
# espeak-ng voices no step or setting was tuned on: only in the held-out and check sets.
UNSEEN_VOICES = ("en-gb-x-rp", "en-gb-scotland", "en-us+m3", "en+f2")
# Connected sentences in the languages aligned across languages (engines/ipa.py), with names
# and compounds, the same six in each: ISO 639-3 code -> (espeak-ng voice, sentences).
LANGUAGE_SENTENCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dan": (
        "da",
        (
            "Lars og Mette boede i et gammelt hus ved havnen i Esbjerg.",
            "Hver morgen købte hun rugbrød og ost hos bageren på hjørnet.",
            "Professor Kierkegaard holdt en lang forelæsning om sprogets historie.",
            "Børnene legede i haven, mens regnen faldt stille over byen.",
            "Vi skal rejse til Bornholm med færgen næste fredag klokken otte.",
            "Han glemte sin paraply i toget og blev våd hele vejen hjem.",
        ),
    ),
    "nob": (
        "nb",
        (
            "Ingrid og Halvor bodde i et gammelt hus ved fjorden utenfor Bergen.",
            "Hver morgen kjøpte hun brød og brunost hos bakeren på hjørnet.",
            "Professor Bjørnstjerne holdt en lang forelesning om språkets historie.",
            "Barna lekte i hagen mens regnet falt stille over byen.",
            "Vi skal reise til Tromsø med hurtigruten neste fredag klokka åtte.",
            "Han glemte paraplyen sin på toget og ble våt hele veien hjem.",
        ),
    ),
    "swe": (
        "sv",
        (
            "Astrid och Gunnar bodde i ett gammalt hus vid sjön utanför Uppsala.",
            "Varje morgon köpte hon bröd och ost hos bagaren på hörnet.",
            "Professor Strindberg höll en lång föreläsning om språkets historia.",
            "Barnen lekte i trädgården medan regnet föll stilla över staden.",
            "Vi ska resa till Visby med färjan nästa fredag klockan åtta.",
            "Han glömde sitt paraply på tåget och blev blöt hela vägen hem.",
        ),
    ),
    "deu": (
        "de",
        (
            "Lukas und Greta wohnten in einem alten Haus am Hafen von Hamburg.",
            "Jeden Morgen kaufte sie Brot und Käse beim Bäcker an der Ecke.",
            "Professor Schleiermacher hielt eine lange Vorlesung über die Geschichte der Sprache.",
            "Die Kinder spielten im Garten, während der Regen leise über die Stadt fiel.",
            "Wir fahren nächsten Freitag um acht Uhr mit der Fähre nach Rügen.",
            "Er vergaß seinen Regenschirm im Zug und wurde auf dem ganzen Heimweg nass.",
        ),
    ),
    "nld": (
        "nl",
        (
            "Daan en Sanne woonden in een oud huis aan de haven van Rotterdam.",
            "Elke ochtend kocht ze brood en kaas bij de bakker op de hoek.",
            "Professor Vermeulen gaf een lange lezing over de geschiedenis van de taal.",
            "De kinderen speelden in de tuin terwijl de regen zachtjes op de stad viel.",
            "Volgende vrijdag gaan we om acht uur met de veerboot naar Texel.",
            "Hij vergat zijn paraplu in de trein en werd de hele weg naar huis nat.",
        ),
    ),
    "fra": (
        "fr",
        (
            "Julien et Camille habitaient une vieille maison près du port de Marseille.",
            "Chaque matin, elle achetait du pain et du fromage chez le boulanger du coin.",
            "Le professeur Delacroix a donné un long cours sur les origines de la langue.",
            "Les enfants jouaient dans le jardin pendant que la pluie tombait sur la ville.",
            "Nous partirons pour la Corse en bateau vendredi prochain à huit heures.",
            "Il a oublié son parapluie dans le train et il est rentré tout mouillé.",
        ),
    ),
    "spa": (
        "es",
        (
            "Pablo y Lucía vivían en una casa vieja junto al puerto de Valencia.",
            "Cada mañana compraba pan y queso en la panadería de la esquina.",
            "El profesor Echeverría dio una larga conferencia sobre la historia del idioma.",
            "Los niños jugaban en el jardín mientras la lluvia caía suavemente sobre la ciudad.",
            "El próximo viernes viajaremos a Mallorca en barco a las ocho.",
            "Olvidó su paraguas en el tren y llegó mojado a casa.",
        ),
    ),
    "ita": (
        "it",
        (
            "Marco e Giulia abitavano in una vecchia casa vicino al porto di Genova.",
            "Ogni mattina comprava pane e formaggio dal fornaio sulla piazza.",
            "Il professor Bernardini ha tenuto una lunga lezione sulla storia della lingua.",
            "I bambini giocavano in giardino mentre la pioggia cadeva piano sulla città.",
            "Venerdì prossimo andremo in Sardegna con il traghetto alle otto.",
            "Ha dimenticato il suo ombrello sul treno ed è tornato a casa bagnato.",
        ),
    ),
    "por": (
        "pt",
        (
            "João e Beatriz moravam numa casa velha perto do porto de Lisboa.",
            "Todas as manhãs ela comprava pão e queijo na padaria da esquina.",
            "O professor Figueiredo deu uma longa palestra sobre a história da língua.",
            "As crianças brincavam no jardim enquanto a chuva caía devagar sobre a cidade.",
            "Na próxima semana vamos de barco para a Madeira às oito horas.",
            "Ele esqueceu o chapéu no comboio e chegou a casa molhado.",
        ),
    ),
    "pol": (
        "pl",
        (
            "Tomasz i Agnieszka mieszkali w starym domu nad portem w Gdańsku.",
            "Każdego ranka kupowała chleb i ser w piekarni na rogu.",
            "Profesor Wiśniewski wygłosił długi wykład o historii języka.",
            "Dzieci bawiły się w ogrodzie, a deszcz cicho padał na miasto.",
            "W przyszły piątek popłyniemy promem na Hel o ósmej rano.",
            "Zapomniał parasola w pociągu i wrócił do domu cały mokry.",
        ),
    ),
    "fin": (
        "fi",
        (
            "Matti ja Liisa asuivat vanhassa talossa Turun sataman lähellä.",
            "Joka aamu hän osti leipää ja juustoa kulman leipomosta.",
            "Professori Virtanen piti pitkän luennon kielen historiasta.",
            "Lapset leikkivät puutarhassa, kun sade satoi hiljaa kaupungin ylle.",
            "Ensi perjantaina matkustamme lautalla Ahvenanmaalle kello kahdeksan.",
            "Hän unohti sateenvarjonsa junaan ja kastui koko kotimatkan.",
        ),
    ),
    "isl": (
        "is",
        (
            "Jón og Guðrún bjuggu í gömlu húsi við höfnina í Reykjavík.",
            "Á hverjum morgni keypti hún brauð og ost í bakaríinu á horninu.",
            "Prófessor Sigurðsson hélt langan fyrirlestur um sögu tungumálsins.",
            "Börnin léku sér í garðinum á meðan rigningin féll hljótt yfir bæinn.",
            "Við förum til Vestmannaeyja með ferjunni næsta föstudag klukkan átta.",
            "Hann gleymdi regnhlífinni sinni í rútunni og varð blautur alla leiðina heim.",
        ),
    ),
    "ces": (
        "cs",
        (
            "Tomáš a Jana bydleli ve starém domě u řeky v Českých Budějovicích.",
            "Každé ráno kupovala chléb a sýr v malé pekárně.",
            "Profesor Dvořák přednesl dlouhou přednášku o historii jazyka.",
            "Děti si hrály v zahradě a déšť tiše padal celou noc.",
            "Příští pátek pojedeme vlakem ke Karlovým Varům v osm hodin ráno.",
            "Zapomněl deštník ve vlaku a vrátil se domů celý mokrý.",
        ),
    ),
    "rus": (
        "ru",
        (
            "Иван и Марина жили в старом доме у порта в Новосибирске.",
            "Каждое утро она покупала хлеб и сыр в булочной на углу.",
            "Профессор Тургенев прочитал длинную лекцию об истории языка.",
            "Дети играли в саду, а дождь тихо падал на город.",
            "В следующую пятницу мы поплывём на пароме в Калининград в восемь утра.",
            "Он забыл зонтик в поезде и вернулся домой совсем мокрым.",
        ),
    ),
    "cat": (
        "ca",
        (
            "Jordi i Montserrat vivien en una casa antiga prop del port de Tarragona.",
            "Cada matí comprava pa i formatge a la fleca de la cantonada.",
            "El professor Puigdemont va fer una llarga xerrada sobre la història de la llengua.",
            "Els nens jugaven al jardí mentre la pluja queia suaument sobre la ciutat.",
            "Divendres vinent anirem amb vaixell a Mallorca a les vuit del matí.",
            "Va oblidar el paraigua al tren i va arribar a casa completament moll.",
        ),
    ),
    "hun": (
        "hu",
        (
            "Péter és Katalin egy régi házban laktak a debreceni kikötő közelében.",
            "Minden reggel kenyeret és sajtot vett a sarki pékségben.",
            "Kovács professzor hosszú előadást tartott a nyelv történetéről.",
            "A gyerekek a kertben játszottak, miközben egész délután esett.",
            "Jövő pénteken komppal utazunk Balatonfüredre reggel nyolc órakor.",
            "Otthagyta az esernyőjét a vonaton, és bőrig ázva ért haza.",
        ),
    ),
    "tur": (
        "tr",
        (
            "Mehmet ve Ayşe İzmir limanının yakınında eski bir evde yaşıyorlardı.",
            "Her sabah köşedeki fırından ekmek ve peynir alırdı.",
            "Profesör Yılmaz dilin tarihi hakkında uzun bir konferans verdi.",
            "Çocuklar bahçede oynarken yağmur şehrin üzerine sessizce yağıyordu.",
            "Gelecek cuma sabah sekizde vapurla Büyükada'ya gideceğiz.",
            "Şemsiyesini trende unuttu ve eve sırılsıklam döndü.",
        ),
    ),
    "ell": (
        "el",
        (
            "Πέρσι ο Γιώργος και η Μαρία ζούσαν σε ένα παλιό σπίτι κοντά στο λιμάνι του Πειραιά.",
            "Κάθε πρωί αγόραζε ψωμί και τυρί από τον φούρνο της γωνίας.",
            "Χθες ο καθηγητής Παπαδόπουλος έδωσε μια μεγάλη διάλεξη για την ιστορία της γλώσσας.",
            "Τα παιδιά έπαιζαν στον κήπο ενώ η βροχή έπεφτε ήσυχα πάνω στην πόλη.",
            "Την επόμενη Παρασκευή θα πάμε με το πλοίο στη Σαντορίνη στις οκτώ το πρωί.",
            "Ξέχασε την ομπρέλα του στο τρένο και γύρισε σπίτι βρεγμένος.",
        ),
    ),
    "ukr": (
        "uk",
        (
            "Тарас і Оксана жили в старому будинку біля порту в Одесі.",
            "Щоранку вона купувала хліб і сир у пекарні на розі.",
            "Професор Шевченко прочитав довгу лекцію про історію мови.",
            "Діти гралися в саду, а дощ тихо падав на місто.",
            "Наступної п'ятниці ми попливемо поромом до Херсона о восьмій ранку.",
            "Він забув парасольку в потязі й повернувся додому зовсім мокрим.",
        ),
    ),
    "slk": (
        "sk",
        (
            "Martin a Zuzana bývali v starom dome vedľa rieky v Bratislave.",
            "Každé ráno kupovala chlieb a syr v malej pekárni.",
            "Profesor Hlinka mal dlhú prednášku o histórii jazyka.",
            "Deti sa hrali v záhrade a dážď ticho padal celú noc.",
            "Budúci piatok pôjdeme vlakom cez Žilinu skoro ráno.",
            "Zabudol dáždnik vo vlaku a vrátil sa domov celý mokrý.",
        ),
    ),
}
# MBROLA's voices of those languages, as MBROLA_VOICES for English: Swedish male and female,
# German, Dutch and French male, European Portuguese and Polish female.
# (Not Spanish es1 and Italian it3: their truth strays from their sound; over a third of the words
# the aligner's starts lie 67-123 ms (median) after the truth's, 0-6 ms on the others.)
MBROLA_LANGUAGE_VOICES = {
    code: tuple(MBROLA_PREFIX + name for name in names)
    for code, names in {
        "swe": ("sw1", "sw2"),
        "deu": ("de6",),
        "nld": ("nl2",),
        "fra": ("fr1",),
        "por": ("pt1",),
        "pol": ("pl1",),
    }.items()
}
# An in-breath in a pause (``with_breaths``): how long it lasts and how far it lies from the
# word beside it (s), the band its noise fills (Hz), and the shortest pause that gets one (s).
BREATH_SECONDS = (0.15, 0.3)
BREATH_GAP_SECONDS = (0.04, 0.12)
BREATH_BAND = (300.0, 3000.0)
MIN_BREATH_PAUSE = 0.3
MIN_BREATH_CLEARANCE = 0.05  # quiet left between a breath and the word on its other side (s)
# espeak-ng's default rate, and a slow reader's (longer closures and vowels).
WORDS_PER_MINUTE = 175
SLOW_WORDS_PER_MINUTE = 130


@dataclass(frozen=True)
class Timed:
    """A word (or phone) and its span in seconds; a word's label is as written, and may hold
    a few words espeak-ng spoke as one (``words``)."""

    label: str
    start: float
    end: float
    phones: tuple[Timed, ...] = field(default=())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timed:
        """The inverse of ``dataclasses.asdict``."""
        phones = tuple(cls.from_dict(phone) for phone in data["phones"])
        return cls(data["label"], data["start"], data["end"], phones)

    @property
    def words(self) -> list[str]:
        return normalise_words(self.label)


@dataclass
class Speech:
    """Samples at ``RATE`` and the words (with phones) they hold, in seconds."""

    samples: array[int]
    words: list[Timed]

    @classmethod
    def silence(cls, seconds: float) -> Speech:
        """``seconds`` of digital silence, no words."""
        return cls(array("h", bytes(2 * round(seconds * RATE))), [])

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    def extend(self, other: Speech, pause: float = 0.0) -> None:
        """Append ``pause`` seconds of silence and then ``other``."""
        self.samples.extend(Speech.silence(pause).samples)
        offset = self.seconds
        self.samples.extend(other.samples)
        self.words.extend(_shift(w, offset) for w in other.words)


class _Event(ctypes.Structure):
    # espeak_EVENT of speak_lib.h
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
# (type, text position (1-based), sample, phoneme name or "")
Event = tuple[int, int, int, str]


def record(
    text: str, voice: str, path: Path, words_per_minute: int = WORDS_PER_MINUTE
) -> list[Timed]:
    """Speak ``text`` with espeak-ng's ``voice`` into the WAV file ``path`` (espeak-ng's own
    rate, 22050 Hz mono), in a fresh process; returns the timed words (with phones)."""
    return record_all([(text, path)], voice, words_per_minute)[0]


def record_all(
    texts: Sequence[tuple[str, Path]], voice: str, words_per_minute: int = WORDS_PER_MINUTE
) -> list[list[Timed]]:
    """Speak each (text, path) as ``record`` does, one after another in one fresh process
    (one reader reading them in turn)."""
    request = {
        "voice": voice,
        "words_per_minute": words_per_minute,
        "texts": [(text, str(path.resolve())) for text, path in texts],
    }
    done = subprocess.run(
        [sys.executable, "-m", __name__],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120 + 30 * len(texts),
        check=False,
        cwd=_REPO_ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"espeak-ng synthesis failed: {done.stderr.strip()[-500:]}")
    return [[Timed.from_dict(word) for word in words] for words in json.loads(done.stdout)]


def _record_here(
    texts: Sequence[tuple[str, Path]], voice: str, words_per_minute: int
) -> list[list[Timed]]:
    library: Any = ctypes.CDLL(LIBRARY)
    sample_rate = library.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS
    )
    if sample_rate <= 0:
        raise RuntimeError("espeak-ng could not be initialised")
    samples = array("h")
    events: list[Event] = []

    def receive(wav: Any, count: int, event: Any) -> int:
        if wav and count > 0:
            samples.extend(wav[:count])
        index = 0
        while event[index].type != _EVENT_END_OF_LIST:
            e = event[index]
            name = e.id.decode("utf-8", "replace") if e.type == _EVENT_PHONEME else ""
            events.append((e.type, e.text_position, e.sample, name))
            index += 1
        return 0

    callback = _CALLBACK(receive)  # kept while the library may call it
    library.espeak_SetSynthCallback(callback)
    timed = []
    for text, path in texts:
        if library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        sample_rate = library.espeak_ng_GetSampleRate()  # an MBROLA voice's own
        library.espeak_SetParameter(_PARAMETER_RATE, words_per_minute, 0)
        del samples[:], events[:]
        data = text.encode("utf-8")
        library.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        library.espeak_Synchronize()
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(samples.tobytes())
        if voice.startswith(MBROLA_PREFIX):
            events[:] = _mbrola_events(text, events, voice, words_per_minute, sample_rate)
        timed.append(_timed_words(text, events, sample_rate, len(samples)))
    return timed


def _mbrola_events(
    text: str, events: Sequence[Event], voice: str, words_per_minute: int, sample_rate: int
) -> list[Event]:
    """An MBROLA voice's ``events`` on the durations MBROLA was given (see the module
    docstring), with a word event before each phoneme whose text position lies in the next
    word (its word events are few, and some text positions stray)."""
    durations = mbrola_durations(text, voice, words_per_minute)
    edges = [0, *(round(ms * sample_rate / 1000) for ms in itertools.accumulate(durations))]
    spans = word_spans(text)
    first = events[0][2] if events else 0  # where MBROLA's output starts
    offset = -first  # from an event's sample to MBROLA's, updated at each phoneme
    made: list[Event] = []
    following = 0  # the next word's index
    for kind, position, sample, name in events:
        if kind == _EVENT_WORD:
            continue
        if kind == _EVENT_PHONEME:
            nearest = min(edges, key=lambda edge: abs(edge - sample - offset))
            if abs(nearest - sample - offset) <= MBROLA_SLIP:
                offset = nearest - sample
        span = spans[following] if following < len(spans) else None
        if kind == _EVENT_PHONEME and span and span[0] <= position - 1 < span[1]:
            made.append((_EVENT_WORD, position, sample + offset, ""))
            following += 1
        made.append((kind, position, sample + offset, name))
    return made


def mbrola_durations(text: str, voice: str, words_per_minute: int) -> list[int]:
    """The duration (ms) of each phoneme espeak-ng hands MBROLA for ``text``, in order."""
    pho = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-q", "--pho", text],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [int(line.split()[1]) for line in pho.splitlines() if line.strip()]


def mbrola_available() -> str | None:
    """None when MBROLA and its voices (MBROLA_VOICES, MBROLA_LANGUAGE_VOICES) are installed,
    else what is missing."""
    if shutil.which("mbrola") is None:
        return "MBROLA is not installed (`make mbrola-voices`)"
    voices = (*MBROLA_VOICES, *(v for each in MBROLA_LANGUAGE_VOICES.values() for v in each))
    missing = [v for v in voices if not (MBROLA_ROOT / v.removeprefix(MBROLA_PREFIX)).is_dir()]
    return (
        f"MBROLA voices {', '.join(missing)} are missing (`make mbrola-voices`)"
        if missing
        else None
    )


def _timed_words(text: str, events: Sequence[Event], sample_rate: int, total: int) -> list[Timed]:
    """The words of ``text`` timed by espeak-ng's ``events`` (see the module docstring);
    ``total`` is the number of samples. A unit's label runs to the next unit's first word."""
    spans = word_spans(text)

    def word_at(position: int) -> int:  # the word a character (0-based) starts or is in
        return next((i for i, (_, end) in enumerate(spans) if position < end), len(spans))

    units: list[tuple[int, float, float, tuple[Timed, ...]]] = []  # first word, start, end
    word: tuple[int, float] | None = None  # the current word's index and word event time
    phonemes: list[tuple[float, str]] = []  # the current word's (start, name)
    after_pause = True

    def close(end: float) -> bool:
        if word is None or not phonemes or word[0] >= len(spans):
            return False
        start = phonemes[0][0] if after_pause else word[1]
        edges = [t for t, _ in phonemes[1:]]
        phones = tuple(
            Timed(name, s, e)
            for (_, name), s, e in zip(phonemes, [start, *edges], [*edges, end], strict=True)
            if e > s
        )
        units.append((word[0], start, end, phones))
        return True

    for number, (kind, position, sample, name) in enumerate(events):
        time = sample / sample_rate
        if kind == _EVENT_WORD:
            index = word_at(position - 1)
            if word is not None and word[0] == index:
                continue  # a compound spoken as two words
            if close(time):
                after_pause = False
            word, phonemes = (index, time), []
        elif kind == _EVENT_PHONEME and name.startswith("_"):
            if phonemes and _inside_word(events, number):
                continue  # a syllable break (Polish "Wiśniewski"), Icelandic's "_|" before r
            if close(time):
                word, phonemes = None, []
            after_pause = True
        elif kind == _EVENT_PHONEME and name and word is not None:
            phonemes.append((time, name))
    close(total / sample_rate)
    if not units:
        return []
    cuts = [spans[index][0] for index, *_ in units[1:]] + [len(text)]
    labels = [text[a:b].strip() for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    return [
        Timed(label, start, end, phones)
        for label, (_, start, end, phones) in zip(labels, units, strict=True)
    ]


def _inside_word(events: Sequence[Event], number: int) -> bool:
    """Whether the pause phoneme ``events[number]``, after a sound of a word, lies inside it:
    another sound follows, with no word event between."""
    for kind, _, _, name in events[number + 1 :]:
        if kind == _EVENT_WORD:
            return False
        if kind == _EVENT_PHONEME and name:
            return not name.startswith("_")
    return False


def boundary_errors(
    expected: Sequence[Timed], aligned: Sequence[tuple[float, float, str]]
) -> list[float]:
    """|expected - aligned| of every known word start and end (a unit's first start and last
    end), in order; ``aligned`` are (start, end, word) in transcript order."""
    errors = []
    for timing, group in zip(expected, aligned_units(expected, aligned), strict=True):
        errors += [abs(timing.start - group[0]), abs(timing.end - group[1])]
    return errors


def aligned_units(
    expected: Sequence[Timed], aligned: Sequence[tuple[float, float, str]]
) -> list[tuple[float, float]]:
    """The aligned words grouped as ``expected`` units are: each group's (start, end);
    raises ValueError when the word counts differ (a word was lost)."""
    count = sum(len(timing.words) for timing in expected)
    if count != len(aligned):
        raise ValueError(f"{count} words expected, {len(aligned)} aligned")
    groups = []
    index = 0
    for timing in expected:
        group = aligned[index : index + len(timing.words)]
        index += len(timing.words)
        groups.append((group[0][0], group[-1][1]))
    return groups


def synthesise(text: str, voice: str = "en-us", words_per_minute: int = WORDS_PER_MINUTE) -> Speech:
    """``text`` spoken by ``voice``, resampled to 16 kHz, with its words' true times; every
    word (as split by spaces) must be timed on its own."""
    return spoken([text], voice, words_per_minute)[0]


def spoken(
    texts: Sequence[str], voice: str, words_per_minute: int = WORDS_PER_MINUTE
) -> list[Speech]:
    """Each text as ``synthesise`` makes it, spoken one after another by one synthesiser."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"{number}.wav" for number in range(len(texts))]
        pairs = list(zip(texts, paths, strict=True))
        if voice.startswith(festival.PREFIX):
            timed = _festival_timed(pairs, voice.removeprefix(festival.PREFIX))
        else:
            timed = record_all(pairs, voice, words_per_minute)
        made = []
        for text, path, words in zip(texts, paths, timed, strict=True):
            if [word.label for word in words] != text.split():
                raise RuntimeError(
                    f"espeak-ng made {len(words)} words of {len(text.split())}: {text!r}"
                )
            made.append(Speech(_resample(path), words))
        return made


def _festival_timed(texts: Sequence[tuple[str, Path]], voice: str) -> list[list[Timed]]:
    return [
        [
            Timed(label, segments[0][1], segments[-1][2], tuple(Timed(*s) for s in segments))
            for label, segments in tokens
            if segments
        ]
        for tokens in festival.record_all(texts, voice)
    ]


def _resample(path: Path) -> array[int]:
    """The WAV file's samples at RATE, by sox (a good low-pass filter; times are unchanged;
    ``-R``: the same dither every time)."""
    done = subprocess.run(
        ["sox", "-R", str(path), "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-"],
        capture_output=True,
        check=True,
    )
    out = array("h")
    out.frombytes(done.stdout)
    return out


def _shift(word: Timed, offset: float) -> Timed:
    return Timed(
        word.label,
        word.start + offset,
        word.end + offset,
        tuple(Timed(p.label, p.start + offset, p.end + offset) for p in word.phones),
    )


def connected(
    sentences: Sequence[str],
    voice: str,
    pause: float = 0.35,
    lead: float = 0.3,
    words_per_minute: int = WORDS_PER_MINUTE,
) -> Speech:
    """The sentences one after another (one voice), ``pause`` s apart, ``lead`` s of silence
    before the first and after the last; ``words_per_minute`` for espeak-ng's voices (Festival's
    speak at their own rate)."""
    speech = Speech.silence(lead)
    for number, sentence in enumerate(spoken(sentences, voice, words_per_minute)):
        speech.extend(sentence, pause if number else 0.0)
    speech.extend(Speech(array("h"), []), lead)
    return speech


def with_noise(speech: Speech, snr_db: float, seed: int = 0) -> Speech:
    """White Gaussian noise added at ``snr_db`` below the power of the words' samples."""
    sigma = math.sqrt(_noise_power(speech, snr_db))
    rng = random.Random(seed)
    noisy = (_clipped(round(x + rng.gauss(0.0, sigma))) for x in speech.samples)
    return Speech(array("h", noisy), list(speech.words))


def with_babble(speech: Speech, snr_db: float, talkers: Sequence[Speech], seed: int = 0) -> Speech:
    """Other voices added at ``snr_db`` below the power of the words' samples: each of
    ``talkers`` repeated from its own random point to ``speech``'s length, all summed."""
    rng = random.Random(seed)
    length = len(speech.samples)
    babble = [0.0] * length
    for talker in talkers:
        samples = talker.samples
        offset = rng.randrange(len(samples))
        for i in range(length):
            babble[i] += samples[(offset + i) % len(samples)]
    power = sum(x * x for x in babble) / max(length, 1)
    scale = math.sqrt(_noise_power(speech, snr_db) / power) if power else 0.0
    mixed = zip(speech.samples, babble, strict=True)
    noisy = (_clipped(round(x + scale * b)) for x, b in mixed)
    return Speech(array("h", noisy), list(speech.words))


def with_breaths(speech: Speech, below_db: float, seed: int = 0) -> tuple[Speech, list[int]]:
    """An in-breath in every pause of at least ``MIN_BREATH_PAUSE`` seconds: noise in
    ``BREATH_BAND`` swelling and fading over ``BREATH_SECONDS``, at its loudest ``below_db``
    under the power of the words' samples, a gap of ``BREATH_GAP_SECONDS`` after the word
    before it or before the word after it (at random). Returns the speech and the index of each
    word edge a breath lies beside, as ``boundary_errors`` orders them (unit i starts at 2i,
    ends at 2i + 1)."""
    rng = random.Random(seed)
    samples = array("h", speech.samples)
    peak = math.sqrt(_noise_power(speech, below_db))
    beside: list[int] = []
    for number, (before, after) in enumerate(itertools.pairwise(speech.words)):
        gap = rng.uniform(*BREATH_GAP_SECONDS)
        room = after.start - before.end - gap - MIN_BREATH_CLEARANCE
        seconds = min(rng.uniform(*BREATH_SECONDS), room)
        if after.start - before.end < MIN_BREATH_PAUSE or seconds < min(BREATH_SECONDS) / 2:
            continue
        follows = rng.random() < 0.5
        start = before.end + gap if follows else after.start - gap - seconds
        breath = _band_noise(round(seconds * RATE), rng)
        first = round(start * RATE)
        for i, x in enumerate(breath):
            swell = math.sin(math.pi * i / len(breath)) ** 1.5
            samples[first + i] = _clipped(round(samples[first + i] + peak * swell * x))
        beside.append(2 * number + 1 if follows else 2 * number + 2)
    return Speech(samples, list(speech.words)), beside


def _band_noise(count: int, rng: random.Random) -> list[float]:
    """``count`` samples of Gaussian noise in ``BREATH_BAND`` (one-pole high- and low-pass),
    at unit power."""
    low, high = (math.exp(-2 * math.pi * hz / RATE) for hz in BREATH_BAND)
    out: list[float] = []
    previous_in = smoothed = high_passed = 0.0
    for _ in range(count):
        x = rng.gauss(0.0, 1.0)
        high_passed = low * (high_passed + x - previous_in)
        previous_in = x
        smoothed = (1 - high) * high_passed + high * smoothed
        out.append(smoothed)
    power = sum(x * x for x in out) / max(count, 1)
    return [x / math.sqrt(power) for x in out] if power else out


def with_level(speech: Speech, gain_db: float = 0.0, offset: int = 0) -> Speech:
    """``speech`` turned up or down by ``gain_db`` and ``offset`` units off zero (a DC offset),
    clipped to 16 bits."""
    gain = 10 ** (gain_db / 20)
    samples = (_clipped(round(x * gain) + offset) for x in speech.samples)
    return Speech(array("h", samples), list(speech.words))


def _clipped(sample: int) -> int:
    """``sample`` within 16 bits."""
    return max(-32768, min(32767, sample))


def _noise_power(speech: Speech, snr_db: float) -> float:
    """The mean power of noise ``snr_db`` below that of the words' samples."""
    return _mean_power(speech) / 10 ** (snr_db / 10)


def _mean_power(speech: Speech) -> float:
    total, count = 0.0, 0
    for word in speech.words:
        part = speech.samples[round(word.start * RATE) : round(word.end * RATE)]
        total += sum(x * x for x in part)
        count += len(part)
    return total / max(count, 1)


def write_wav(speech: Speech, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(speech.samples.tobytes())
    return path


def long_speech(seconds: float, seed: int = 0, voice: str = "en-us") -> Speech:
    """At least ``seconds`` of one voice reading the sentences in a shuffled order, again and
    again (one continuous recording, as a read-aloud book)."""
    rng = random.Random(seed)
    speech = Speech.silence(0.3)
    made: dict[str, Speech] = {}
    while speech.seconds < seconds:
        order = list(SENTENCES)
        rng.shuffle(order)
        made = made or dict(zip(order, spoken(order, voice), strict=True))
        for sentence in order:
            speech.extend(made[sentence], rng.choice((0.2, 0.35, 0.5, 0.8)))
    return speech


if __name__ == "__main__":
    asked = json.load(sys.stdin)
    texts = [(text, Path(path)) for text, path in asked["texts"]]
    timed = _record_here(texts, asked["voice"], asked["words_per_minute"])
    print(json.dumps([[asdict(word) for word in words] for words in timed]))
