"""Settings: bot.toml, networks.toml and .env, read once, validated, frozen.

Every problem names its file, line and key. Uses only core/.
"""
