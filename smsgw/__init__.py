"""`smsgw`: a command line for the SMS gateway, deployed (`cdk-outputs.json`) or local
(`.local/outputs.json`)."""
