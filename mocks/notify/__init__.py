"""The notification gateway: SMS and e-mail that helsenorge would send, kept in an outbox to inspect."""

from mocks.notify.outbox import Notification, NotificationOutbox, scrub_phone_numbers
from mocks.notify.http import notify_router

__all__ = ["Notification", "NotificationOutbox", "notify_router", "scrub_phone_numbers"]
