package mercure_test

import (
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/store/memory"
)

func TestProtocol(t *testing.T) {
	mercuretest.Run(t, func(t *testing.T) hub.Store { return memory.New(memory.Options{}) })
}
