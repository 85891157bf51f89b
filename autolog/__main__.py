"""``python -m autolog`` works like the ``autolog`` command."""

from autolog.cli import main

if __name__ == "__main__":
    main()
