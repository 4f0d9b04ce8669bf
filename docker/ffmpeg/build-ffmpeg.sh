#!/bin/sh
# Builds a small ffmpeg from Debian bookworm's own source package (the same 5.1 release and
# patches as Debian's `ffmpeg`): every demuxer and every native audio decoder, so that probing,
# the format whitelist and the error messages of the conversion stay those of Debian's ffmpeg,
# but no video decoders, devices, network, hardware acceleration or external libraries (which
# pull in Mesa and LLVM: about 800 MB). Output: $PREFIX/bin/ffmpeg, linked against libc, libm
# and zlib only. Usage: build-ffmpeg.sh SOURCE_DIR PREFIX
set -eu
src=$1
prefix=$2
# Native audio decoders (configure names; wildcards allowed).
audio_decoders='aac*,ac3*,adpcm_*,alac,als,amrnb,amrwb,ape,aptx*,atrac*,binkaudio_*,bmv_audio,comfortnoise,cook,dca,*_dpcm,dfpwm,dolby_e,dsd_*,dsicinaudio,dss_sp,dst,dvaudio,eac3,evrc,fastaudio,flac,g723_1,g729,gsm*,hca,hcom,iac,ilbc,imc,mace*,metasound,mlp,mp1*,mp2*,mp3*,mpc*,msnsiren,nellymoser,on2avc,opus,paf_audio,pcm_*,qcelp,qdm*,ralf,s302m,sbc,shorten,sipr,siren,smackaud,sonic,speex,tak,truehd,truespeech,tta,twinvq,vmdaudio,vorbis,wavpack,wma*,ws_snd1,xma*'
cd "$src"
./configure --prefix="$prefix" \
  --disable-everything --disable-autodetect --disable-doc --disable-debug \
  --disable-ffplay --disable-ffprobe --disable-network --disable-x86asm \
  --disable-avdevice --disable-swscale --disable-postproc \
  --enable-zlib \
  --enable-demuxers --enable-parsers \
  --enable-decoder="$audio_decoders" \
  --enable-protocol=file,pipe \
  --enable-encoder=pcm_s16le --enable-muxer=wav \
  --enable-filter=abuffer,abuffersink,aformat,anull,aresample,atrim,buffer,buffersink,format,null,trim
make -j"$(nproc)"
make install
strip "$prefix/bin/ffmpeg"
