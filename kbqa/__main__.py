import sys

from kbqa.cli import main

sys.exit(main())
