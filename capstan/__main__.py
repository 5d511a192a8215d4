import sys

from capstan.cli import main

sys.exit(main())
