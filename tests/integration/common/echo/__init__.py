"""A second worker surface for tests only: ``echo``, one workflow calling one activity.

Capstan has one worker surface today (``protocols``); this one lets a test start two
``capstan worker`` processes with different ``--surfaces`` and see each poll only its own queues.
"""
