"""The handler side: the SDK (``EventHandler``) and the runtime of a ``numeraud-handler`` process.

A handler process imports this package, :mod:`numeraud.common` and :mod:`numeraud.numerai`, and never
the supervisor's (:mod:`numeraud.supervisor`): its memory holds a model, not the event log.
"""
