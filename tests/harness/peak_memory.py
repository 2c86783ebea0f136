"""Peak memory of a piece of work, measured in a fresh interpreter on Linux.

`PRELUDE` starts the script a test runs with `python -c`: `status("VmRSS")` and
`status("VmHWM")` read the current and peak resident set (KiB) from /proc/self/status, and
`reset_peak()` sets the peak back to the current size, so warming up (imports, pools) first and
then resetting leaves only the work under test in the peak.
"""

PRELUDE = """
import json, re, sys
def status(field):
    text = open("/proc/self/status").read()
    return int(re.search(field + r":\\s+(\\d+)", text).group(1))
def reset_peak():
    # Linux: writing 5 resets the peak RSS (VmHWM) to the current RSS.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
"""
