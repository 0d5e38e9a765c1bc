"""The bottom layer: DigiHelse's domain rules and forms that every service, the simulator and the kit share.

Nothing here does I/O or knows about SimPy, HTTP or AMQP: the Norwegian calendar rules the routines are written
in (workdays, the cancellation cut-off, the reply deadline, a municipality's local rules) and the one text form
an instant is stored in.
"""
