"""Local stand-ins for what graphops talks to in Azure, for the runner, the demo and the tests.

Azurite (queues, tables) is the real emulator. Graph, the Functions identity endpoint, Entra's
sign-in in customer tenants and a callback receiver have no emulator, so these are small HTTP servers
speaking their documented wire formats. None of this is imported by the Function App.
"""
