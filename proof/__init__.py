"""The crash campaign (`make proof`): evidence that no mail is lost or doubled when the bot is killed.

A folder of its own, beside bench/ and tests/: it is neither a benchmark (it measures no rate
and takes no medians) nor a unit of the test suite (it runs minutes, with its own sink process,
sending MTA and judge), yet both `make proof` and a short test in `make test` run the same code.
Like bench/, it may use tests/support; bot/ never imports it.
"""
