"""Queue and storage descriptions the pilot loads at start-up (pilot-harvester.md §4)."""
