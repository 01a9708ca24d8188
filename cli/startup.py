"""Start-up refusals of the commands that send and typeset: a missing CJK font or a broken channels
file stops them before anything runs (kept apart from ``cli/common.py``, so that light commands do not
load the typesetter)."""

from __future__ import annotations

import typer

from activities.case_activities import typesetter_for
from channels.config import ChannelsError, read_channels
from config.settings import Settings
from paper.typeset import FontMissing


def check_fonts(settings: Settings) -> None:
    """Documents need a CJK font, and messages their channels: without them, nothing that sends starts."""
    try:
        typesetter_for(settings)
        read_channels(settings.channels_file)
    except (FontMissing, ChannelsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
