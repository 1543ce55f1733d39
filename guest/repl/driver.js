// placeholder: the node REPL driver
