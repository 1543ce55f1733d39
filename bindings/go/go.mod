module msb

go 1.23
