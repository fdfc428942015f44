import VFIOCtlCommands

await VFIOCtl.runFromCommandLine()
