"""Device data streams: the phone's installed apps and SMS, and the bank-SMS parser.

``parse_sms`` turns one SMS into a ``ParsedSms`` (financial or not, with its fields).
"""

from tierflow.devices.sms_parser import ParsedSms, parse_sms

__all__ = ["ParsedSms", "parse_sms"]
