from __future__ import annotations

import sys

from autophon_cli.main import main

sys.exit(main())
