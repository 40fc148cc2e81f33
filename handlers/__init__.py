"""numeraud's bundled handlers, installed as ``numeraud_handlers``.

Each is an ordinary :class:`numeraud.EventHandler` that anyone could have written; they arrive
with the model, uploader, notifier and scores handlers, and run your own code as it is: a Model
Upload pickle (``pickle``) or a predict script (``script``).
"""
