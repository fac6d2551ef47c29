"""Health-rights answers for migrants in the UK: a Telegram-free core plus a Telegram front end."""
