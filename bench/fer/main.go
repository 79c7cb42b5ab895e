// Command fer measures the ЕПГУ/ФЭР service (connectors/fer) the way the regional hub
// loads it: GetScheduleInfo for one doctor over 14 days, with 40 doctors × 60 days of
// slots synced. A child process serves (the real connector on loopback, fed from an
// in-memory host as the engine feeds it from the state store); the parent is the load
// generator:
//
//   - open loop: -rate requests per second for -duration, each sent at its scheduled
//     time and timed from then (no coordinated omission): p50, p90, p99, max;
//   - closed loop: -workers clients back to back for -duration: throughput.
//
// The server's peak RSS is the child's (wait4's rusage). Only 127.0.0.1 is used.
//
//	go run ./bench/fer                        # 200 req/s for 15 s, then 8 workers for 5 s
//	go run ./bench/fer -rate 400 -duration 10s
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"medsync/connectors"
	_ "medsync/connectors/fer"
)

const (
	user, password = "bench", "bench-password"
	doctors, days  = 40, 60
)

func main() {
	serve := flag.String("serve", "", "internal: serve on this address (the child process)")
	rate := flag.Int("rate", 200, "open-loop requests per second")
	duration := flag.Duration("duration", 15*time.Second, "length of each phase")
	workers := flag.Int("workers", 8, "closed-loop clients")
	flag.Parse()
	if *serve != "" {
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := runBench(*rate, *workers, *duration); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func runBench(rate, workers int, duration time.Duration) error {
	addr := "127.0.0.1:18843"
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(exe, "-serve", addr)
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("server did not start: %w", err)
	}
	fmt.Print("server: ", line)
	url := "http://" + addr + "/fer/soap"
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 10 * time.Second}
	call := func(r *rand.Rand) (time.Duration, int, error) {
		body := scheduleRequest(r)
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("SOAPAction", "GetScheduleInfo")
		req.SetBasicAuth(user, password)
		resp, err := cl.Do(req)
		if err != nil {
			return 0, 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "<Slots>") {
			return 0, 0, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
		}
		return time.Since(t0), len(b), nil
	}
	// Warm up: connections, code paths.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		if _, _, err := call(r); err != nil {
			return err
		}
	}
	lat, size, errs := openLoop(call, rate, duration)
	fmt.Printf("open loop %d req/s for %s: %d requests, %d errors, answer %d bytes avg, latency p50 %s p90 %s p99 %s max %s\n",
		rate, duration, len(lat), errs, size, pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100))
	n, errs2, lat2 := closedLoop(call, workers, duration)
	fmt.Printf("closed loop %d workers for %s: %d requests, %d errors, %.0f req/s, latency p50 %s p99 %s\n",
		workers, duration, n, errs2, float64(n)/duration.Seconds(), pct(lat2, 50), pct(lat2, 99))
	stdin.Close()
	if err := child.Wait(); err != nil {
		return err
	}
	fmt.Printf("server peak RSS: %.1f MB\n", float64(maxRSS(child.ProcessState))/1e6)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("machine load average (1, 5, 15 min): %s", strings.Join(strings.Fields(string(b))[:3], " ")+"\n")
	}
	return nil
}

// openLoop sends rate requests per second, each in its own goroutine at its scheduled
// time; latency counts from the scheduled time.
func openLoop(call func(*rand.Rand) (time.Duration, int, error), rate int, d time.Duration) ([]time.Duration, int, int) {
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs, bytes := 0, 0
	start := time.Now()
	for i := 0; i < total; i++ {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			_, n, err := call(r)
			mu.Lock()
			defer mu.Unlock()
			lat[i] = time.Since(at)
			bytes += n
			if err != nil {
				errs++
			}
		}(i)
	}
	wg.Wait()
	return lat, bytes / max(total, 1), errs
}

func closedLoop(call func(*rand.Rand) (time.Duration, int, error), workers int, d time.Duration) (int, int, []time.Duration) {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for time.Now().Before(end) {
				l, _, err := call(r)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, l)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return len(lat), errs, lat
}

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)].Round(10 * time.Microsecond)
}

// runServer serves the synthetic clinic until stdin closes.
func runServer(addr string) error {
	spec := connectors.Lookup("fer")
	m := map[string]string{}
	for _, o := range spec.Options {
		if !o.Pattern {
			m[o.Name] = o.Default
		}
	}
	m["listen"], m["allow"], m["basic_user"], m["basic_password"] = addr, "127.0.0.1", user, password
	m["booking_cutoff"] = "0s"
	for i := 1; i <= 4; i++ {
		m[fmt.Sprintf("post.%d", i)] = fmt.Sprint(100 + i)
	}
	m["mo_oid.2"] = "1.2.643.5.1.13.13.12.2.66.7001"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := spec.New(connectors.Env{Instance: "fer", Logger: log, BaseDir: "."}, connectors.NewValues("bench", "connector.fer", m))
	if err != nil {
		return err
	}
	h := newHost(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- conn.(connectors.Server).Serve(ctx, h) }()
	srv := conn.(connectors.Server)
	for i := 0; i < 1000 && !srv.Listening()[0].Healthy; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println(srv.Listening()[0].Detail)
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	return <-done
}
