"""KITH wire formats: MsgHead 1.2 + Dialogmelding, xCal appointments, AppRec; hardened parsing and validation."""
