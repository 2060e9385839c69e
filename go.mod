module github.com/ssehub/ssehub

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	github.com/yosida95/uritemplate/v3 v3.0.2
)
