"""SMS to a guardian's mobile, through Apprise's SMS plugins (the school's own gateway, on any host).

A school's ``sms`` address is an Apprise URL without its recipient, for example
``smseagle://${SMSEAGLE_TOKEN}@sms.school.edu.cn`` (an SMSEagle gateway on the school's network; ``smseagles://``
for TLS) or ``httpsms://${HTTPSMS_KEY}@8613800000000``: the host in the URL is the API base, so a private
deployment is named as the robots' ``api_base`` is. The guardian's number is added as the target.
"""

from __future__ import annotations

import re

import apprise

from channels.mail import schemes

#: Apprise's SMS plugins whose recipient is the URL's last path part.
SMS_SCHEMES = {"smseagle", "smseagles", "httpsms", "bulksms"}
#: a mainland mobile number, as a guardian's is kept
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


class SmsFailed(Exception):
    """The gateway did not take the message (sending again later may)."""


def sms_plugin(address: str, phone: str):
    """Apprise's plugin for the school's SMS address, sending to ``phone``; None when the address is not an
    SMS URL Apprise can send with."""
    try:
        plugin = apprise.Apprise.instantiate(f"{address.rstrip('/')}/{phone}")
    except ValueError:
        return None
    return plugin if plugin is not None and schemes(plugin) & SMS_SCHEMES else None


def send_sms(address: str, phone: str, text: str) -> None:
    """Send one SMS; SmsFailed when the gateway refuses it or cannot be reached."""
    plugin = sms_plugin(address, phone)
    if plugin is None:
        raise SmsFailed("the school's sms address is not an SMS URL Apprise can send with")
    if not plugin.notify(body=text, title=""):
        raise SmsFailed("the SMS gateway did not take the message")
