module github.com/lispd/lispd

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/gaissmai/bart v0.30.0 // indirect
	github.com/songgao/water v0.0.0-20200317203138-2b4b6d7c09d8 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
