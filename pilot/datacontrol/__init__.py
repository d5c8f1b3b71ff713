"""Data Control: stage-in, stage-out and the log tarball, through copytool plugins."""
