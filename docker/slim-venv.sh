#!/bin/sh
# Slims the runtime virtualenv of an image's build stage (see docker/README.md, "Image sizes"),
# then checks that every AutoPhon process still imports. Usage: slim-venv.sh VENV
#
# - kubernetes.aio, the kubernetes client's asyncio twin (about 70 MB with its bytecode), and
#   the aiohttp stack only it uses: AutoPhon uses the synchronous client;
# - the kubernetes client's bytecode: its ~800 model modules load lazily, so compiling the few
#   a process uses costs nothing measurable, while their .pyc files weigh 25 MB;
# - pip and setuptools: nothing is installed at run time.
set -eu
venv=$1
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$venv/bin/pip" uninstall --yes --quiet \
  aiohttp aiohttp-retry aiohappyeyeballs aiosignal frozenlist multidict propcache yarl
rm -rf "$site/kubernetes/aio"
find "$site/kubernetes" -name __pycache__ -prune -exec rm -rf {} +
"$venv/bin/pip" uninstall --yes --quiet pip setuptools
"$venv/bin/python" -c 'import autophon_cli.main, autophon_upload.main, autophon_align.controller, autophon_align.launchers.kubernetes, autophon_align.runner, kubernetes.client, kubernetes.config, kubernetes.watch'
