"""Each school's channels, from a YAML file (``CRISISFLOW_CHANNELS_FILE``); secrets never in it.

::

    schools:
      school-a:                     # a school's id, or an authority's
        email: "mailtos://crisis:${SMTP_PASSWORD}@smtp.school-a.edu.cn?from=crisis@school-a.edu.cn"
        wecom:
          api_base: https://qyapi.weixin.qq.com     # a private WeCom deployment: its own host
          robots: {leadership: "wecombot://${WECOM_LEADERSHIP_KEY}"}
        dingtalk:
          api_base: https://oapi.dingtalk.com       # 政务钉钉: the government host
          robots: {head_teacher: "dingtalk://${file:/run/secrets/dt-secret}@${DT_TOKEN}/"}

Channel addresses are Apprise URLs. ``${NAME}`` is read from the environment and
``${file:PATH}`` from a file when the file is loaded; a missing one is an error naming it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import apprise
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.mail import mail_plugin, schemes
from channels.sms import sms_plugin
from config.yaml_files import load_yaml
from models.domain import Recipient

_SECRET = re.compile(r"\$\{(file:)?([^}]+)\}")


class ChannelsError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Chat(_Strict):
    """A chat platform's group robots, one per role, and the platform's API host."""

    api_base: Annotated[str, Field(pattern=r"^https?://[^/\s]+(/[^\s]*)?$")] | None = None
    robots: dict[Recipient, str] = {}


class SchoolChannels(_Strict):
    email: str | None = None  # an Apprise mail URL (mailto:// or mailtos://); the person's address is added
    wecom: Chat | None = None
    dingtalk: Chat | None = None
    feishu: Chat | None = None
    #: an Apprise SMS URL without its recipient (channels/sms.py): the guardian's answer link goes by SMS
    sms: str | None = None


class ChannelsFile(_Strict):
    schools: dict[str, SchoolChannels] = {}

    def of(self, *owners: str | None) -> SchoolChannels:
        """The channels of the first owner (school or authority) that has any."""
        for owner in owners:
            if owner and owner in self.schools:
                return self.schools[owner]
        return SchoolChannels()


def _expand(value: str, where: str) -> str:
    def one(match: re.Match) -> str:
        if match.group(1):
            path = Path(match.group(2))
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ChannelsError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None
        name = match.group(2)
        if name not in os.environ:
            raise ChannelsError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _SECRET.sub(one, value)


def _walk(node, where: str):
    if isinstance(node, dict):
        return {k: _walk(v, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, f"{where}[{i}]") for i, v in enumerate(node)]
    return _expand(node, where) if isinstance(node, str) else node


#: the Apprise scheme each chat platform's robots use
ROBOT_SCHEMES = {"wecom": "wecombot", "dingtalk": "dingtalk", "feishu": "feishu"}


def check(channels: ChannelsFile) -> None:
    """Every address is one Apprise can send with, of the service it stands for: a mail URL for
    ``email``, the platform's robot URL for each robot. ChannelsError naming the first that is not (its
    place in the file, never its secret)."""
    for owner, school in channels.schools.items():
        where = f"channels.schools.{owner}"
        if school.email is not None and mail_plugin(school.email, "check@example.org") is None:
            raise ChannelsError(f"{where}.email: not a mail URL Apprise can send with "
                                f"(mailto://user:password@host?from=address, or mailtos:// for TLS)")
        if school.sms is not None and sms_plugin(school.sms, "13800000000") is None:
            raise ChannelsError(f"{where}.sms: not an SMS URL Apprise can send with "
                                f"(smseagle://token@host, smseagles:// for TLS, httpsms://key@from, bulksms://…)")
        for platform, scheme in ROBOT_SCHEMES.items():
            chat = getattr(school, platform)
            for role, address in (chat.robots if chat else {}).items():
                try:
                    plugin = apprise.Apprise.instantiate(address)
                except ValueError:
                    plugin = None
                if plugin is None or scheme not in schemes(plugin):
                    raise ChannelsError(f"{where}.{platform}.robots.{role.value}: not a {scheme}:// robot URL "
                                        f"Apprise can send with")


def read_channels(path: Path | None) -> ChannelsFile:
    """The channels file with its secrets filled in and every address checked (``check``); ChannelsError
    saying what is wrong."""
    if path is None:
        return ChannelsFile()
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
        channels = ChannelsFile.model_validate(_walk(raw, "channels"))
        check(channels)
        return channels
    except OSError as exc:
        raise ChannelsError(f"cannot read {path}: {exc.strerror}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ChannelsError(f"{path}: {exc}") from None
