"""Cost data: instance prices (bundled catalog, live AWS prices, their cache) and actual spend.

`prices` reads the AWS Price List Query API and the spot price history and keeps what it read
under $LLMCTL_HOME/cache/prices.json; `actuals` reads Cost Explorer. boto3 is imported only
inside the functions that call AWS, so importing this package stays cheap.
"""
