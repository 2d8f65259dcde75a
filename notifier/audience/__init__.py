"""Who is affected: customer records validated from files or the company's database, imported into the
store, and selected into a campaign's frozen manifest with a channel plan and the reason for every
channel that cannot be used."""
