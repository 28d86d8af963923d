"""Acting on a received mail: the pipeline and the handlers (replies, list relay, opt-out, bounces).

A handler's effects commit with its outcome. Uses meetings/, rules/ and every part below them.
"""
