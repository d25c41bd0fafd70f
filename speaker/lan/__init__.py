"""The speaker's knowledge of the LAN: who else holds the addresses it announces (docs/lan.md)."""
