"""Pure computation: arrays in, arrays or dataclasses out. No HTTP, no database."""
