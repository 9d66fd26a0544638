package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
)

// --- scenario: invitations ---

func benchInvite(ctx context.Context, b *benchFlags) error {
	const limit, window = 150, 5 * time.Second
	sim, dir, sc, stopSim, err := startSim(ctx, graph.Options{InvitationWindow: b.inviteWin, Logger: b.logger()}, graphsim.WithInvitationRateLimit(limit, window))
	if err != nil {
		return err
	}
	defer stopSim()
	env, err := b.start(ctx, "invite", dir, nil, nil)
	if err != nil {
		return err
	}
	defer env.stop()
	client := b.httpClient()
	defer client.CloseIdleConnections()

	// Sign everyone up at once, conns at a time.
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, b.conns)
	t0 := time.Now()
	for range b.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.invites {
					return
				}
				if err := env.do(client, http.MethodPost, "/Users", createBody(benchEmail("invite", i)), http.StatusCreated, nil); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	signedUp := time.Since(t0)
	ideal := window * time.Duration((b.invites+limit-1)/limit-1)
	deadline := time.Now().Add(3*ideal + time.Minute)
	for len(sim.Invitations()) < b.invites && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	invs := sim.Invitations()
	if len(invs) == 0 {
		return fmt.Errorf("no invitation sent")
	}
	first, last := invs[0].At, invs[0].At
	perEmail := map[string]int{}
	for _, inv := range invs {
		if inv.At.Before(first) {
			first = inv.At
		}
		if inv.At.After(last) {
			last = inv.At
		}
		perEmail[strings.ToLower(inv.Email)]++
	}
	dups := len(invs) - len(perEmail)
	perSec := make([]int, int(last.Sub(first)/time.Second)+1)
	for _, inv := range invs {
		perSec[int(inv.At.Sub(first)/time.Second)]++
	}
	fmt.Fprintf(b.errw, "invitations per second from the first: %v\n", perSec)
	// With a sliding window, k invitations take at least
	// window*(ceil(k/limit)-1) from the first to the last: the rate over
	// last-first+window is the tenant limit exactly when nothing is lost.
	rate := float64(len(invs)) / (last.Sub(first) + window).Seconds()
	maxRate := float64(limit) / window.Seconds()
	clientWin := "default"
	if b.inviteWin > 0 {
		clientWin = fmt.Sprintf("%d per %s", limit, b.inviteWin)
	}
	fmt.Fprintf(b.out, "\n### Invitations (%s, limit %d per %s enforced by graphsim, graph.Client window %s)\n\n", b.db, limit, window, clientWin)
	fmt.Fprintln(b.out, "| users signed up | SCIM sign-up time | invitations | first→last | ideal first→last | rate | share of limit | HTTP 429 | duplicates |")
	fmt.Fprintln(b.out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(b.out, "| %d | %s | %d | %s | %s | %.1f/s | %.1f%% | %d | %d |\n", b.invites, signedUp.Round(time.Millisecond),
		len(invs), last.Sub(first).Round(time.Millisecond), ideal, rate, 100*rate/maxRate, sc.s429.Load(), dups)
	return nil
}
