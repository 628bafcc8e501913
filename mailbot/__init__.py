"""mailbot: files a school's shared mailbox by sender role and plan topic."""

__all__ = ["__version__"]
__version__ = "0.1.0"
