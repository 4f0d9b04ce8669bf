#!/bin/sh
# Slims the runtime virtualenv of an image's build stage (see docker/README.md, "Image sizes"),
# then checks that every AutoPhon process the image runs still imports.
# Usage: slim-venv.sh VENV IMAGE   (IMAGE: upload, controller or aligner)
#
# Every image:
# - kubernetes.aio, the kubernetes client's asyncio twin (about 70 MB with its bytecode), and
#   the aiohttp stack only it uses: AutoPhon uses the synchronous client;
# - the kubernetes client's bytecode: its ~800 model modules load lazily, so compiling the few
#   a process uses costs nothing measurable, while their .pyc files weigh 25 MB;
# - numpy's test suites, f2py, distutils, C headers and static libraries (about 18 MB with
#   their bytecode): nothing builds against numpy at run time;
# - pocketsphinx's n-gram language models (27 MB): the built-in engine aligns with grammars
#   (`lm: None`, engines/pocketsphinx_worker.py); its acoustic model and CMUdict stay;
# - pip and setuptools: nothing is installed at run time.
# Per image, the distributions none of its processes imports (the `uninstall` lists below):
# numpy and py3langid only serve the runner (viewer summaries, language check); the kubernetes
# client only the controller and the chart's pre-delete hook (controller image).
set -eu
venv=$1
image=$2
case $image in
  upload)
    uninstall="numpy py3langid"
    processes="autophon_cli.main autophon_upload.main autophon_upload.worker autophon_core.migrate" ;;
  controller)
    uninstall="numpy py3langid"
    processes="autophon_cli.main autophon_align.controller autophon_align.launchers.kubernetes kubernetes.client kubernetes.config kubernetes.watch" ;;
  aligner)
    uninstall="kubernetes durationpy oauthlib requests-oauthlib websocket-client"
    processes="autophon_cli.main autophon_align.runner autophon_cli.local" ;;
  *)
    echo "slim-venv.sh: unknown image '$image' (upload, controller or aligner)" >&2
    exit 2 ;;
esac
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$venv/bin/pip" uninstall --yes --quiet \
  aiohttp aiohttp-retry aiohappyeyeballs aiosignal frozenlist multidict propcache yarl
# shellcheck disable=SC2086 # one word per distribution
"$venv/bin/pip" uninstall --yes --quiet $uninstall
if [ -d "$site/kubernetes" ]; then
  rm -rf "$site/kubernetes/aio"
  find "$site/kubernetes" -name __pycache__ -prune -exec rm -rf {} +
fi
if [ -d "$site/numpy" ]; then
  find "$site/numpy" -type d -name tests -prune -exec rm -rf {} +
  rm -rf "$site/numpy/f2py" "$site/numpy/distutils" "$site/numpy/_pyinstaller" \
    "$site/numpy/core/include" "$site/numpy/core/lib" "$site/numpy/random/lib" \
    "$site/numpy/random/_examples"
  rm -f "$site/numpy/conftest.py" "$site/numpy/__pycache__/conftest."*
fi
rm -f "$site/pocketsphinx/model/en-us/en-us.lm.bin" "$site/pocketsphinx/model/en-us/en-us-phone.lm.bin"
"$venv/bin/pip" uninstall --yes --quiet pip setuptools
for module in $processes; do
  "$venv/bin/python" -c "import $module" || { echo "slim-venv.sh: $image cannot import $module" >&2; exit 1; }
done
