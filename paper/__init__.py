"""The words people read: codes in words (zh-CN and English), what every notification says, and the paper a
school signs and sends (facts, Typst templates, the typesetter)."""
