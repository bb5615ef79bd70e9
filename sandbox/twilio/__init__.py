"""A Twilio-compatible Messages API (the SMS sender's counterpart) and the control routes around it."""
from sandbox.twilio.api import TwilioState, twilio_blueprints

__all__ = ["TwilioState", "twilio_blueprints"]
