"""The `kkrbot` command line: the commands, the read-only reports, the preview.

The top: it may use every part, the daemon included.
"""
