"""Allow `python -m bot` as well as the `kkrbot` console script."""
from bot.cli.commands import main

main()
