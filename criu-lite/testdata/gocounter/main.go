// Command gocounter is a Go program for criu-lite's tests: the Go runtime's threads, its
// signal stacks (sigaltstack per thread), futexes and timers. It prints a counter that a
// goroutine feeds through a channel, and a goroutine-heavy sum, every 20 ms.
package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	runtime.GOMAXPROCS(4)
	ch := make(chan int)
	go func() {
		for i := 0; ; i++ {
			ch <- i
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for i := range ch {
		done := make(chan int, 8)
		for g := range 8 {
			go func() { done <- g }()
		}
		sum := 0
		for range 8 {
			sum += <-done
		}
		fmt.Println(i, sum)
	}
}
