"""``errorcategory=<name>``: predefined lists of (component code field, codes) (monitor.md §2).

Codes are the pilot's (pilot-harvester.md §8.2) and the server's (states.md §9.2). Recoverable
stage-out codes of analysis jobs arrive negated (pilot-harvester.md §8.1), so both signs are listed.
"""

STAGEOUT_RECOVERABLE = (1135, 1136, 1137, 1141, 1152, 1181)

ERROR_CATEGORIES: dict[str, dict[str, tuple[int, ...]]] = {
    "lostheartbeat": {"jobdispatchererrorcode": (100,)},
    "timeout": {
        "jobdispatchererrorcode": (103, 104, 105),
        "taskbuffererrorcode": (101, 102, 104),
        "piloterrorcode": (1151, 1152, 1213, 1317, 1330, 1367, 1368, 1376, 1378),
    },
    "killed": {"taskbuffererrorcode": (100,), "piloterrorcode": (1144, 1200, 1201, 1202, 1205, 1208, 1363)},
    "memory": {"piloterrorcode": (1212, 1223, 1235)},
    "stagein": {"piloterrorcode": (1099, 1100, 1103, 1145, 1151, 1171, 1326, 1331, 1338)},
    "stageout": {
        "piloterrorcode": (1133, 1172, 1333, 1383, *STAGEOUT_RECOVERABLE, *(-code for code in STAGEOUT_RECOVERABLE))
    },
    "container": {"piloterrorcode": (1306, 1307, 1308, 1309, 1325, 1340, 1345, 1348, 1360, 1372)},
    "payload": {"piloterrorcode": (1220, 1305, 1310, 1315, 1328, 1355)},
    "harvester": {"superrorcode": (1, 2), "taskbuffererrorcode": (300,)},
    "ddm": {"ddmerrorcode": (100, 101, 200, 201, 203, 204, 205, 206)},
}
