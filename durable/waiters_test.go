package durable

import "testing"

func TestWaiters_AChangeWakesOnlyTheWaitsItConcerns(t *testing.T) {
	tests := []struct {
		name        string
		id, tail    uint64
		final, woke bool
	}{
		{"a tail at the wait's position does not wake it", 7, 10, false, false},
		{"a tail past the wait's position wakes it", 7, 11, false, true},
		{"closure wakes it", 7, 10, true, true},
		{"another incarnation of the name wakes it", 8, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Waiters
			woken, remove := w.Add("s", 7, 10)
			defer remove()
			w.Changed("other", 9, 99, true)
			w.Changed("s", tt.id, tt.tail, tt.final)
			select {
			case <-woken:
				if !tt.woke {
					t.Fatal("woken, want still waiting")
				}
			default:
				if tt.woke {
					t.Fatal("still waiting, want woken")
				}
			}
		})
	}
}

func TestWaiters_WakeAllWakesEveryWaitAndRemoveForgetsIt(t *testing.T) {
	var w Waiters
	a, removeA := w.Add("a", 1, 0)
	b, removeB := w.Add("b", 2, 5)
	removeB()
	w.WakeAll()
	<-a
	select {
	case <-b:
		t.Fatal("a removed wait was woken")
	default:
	}
	removeA() // after a wake: harmless
	if len(w.m) != 0 {
		t.Fatalf("%d names still registered", len(w.m))
	}
}
