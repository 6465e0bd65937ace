import sys

from rnn_apps.cli import main

sys.exit(main())
