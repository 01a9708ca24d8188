"""Channels: how a notification reaches people outside the app (e-mail, WeCom, DingTalk, Feishu, a webhook)."""
