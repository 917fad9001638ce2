"""Network access: SSRF-guarded URL fetching (kept out of core/, which is pure DSP)."""
