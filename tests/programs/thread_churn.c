/* thread_churn N [EXIT_CODE]: creates N short threads, a few at a time, each exiting at
   once; for threads that exit while a tracer is stopping them. Exits EXIT_CODE (default 0). */
#include <pthread.h>
#include <stdlib.h>
static void* nothing(void* arg) { return arg; }
int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  for (long i = 0; i < n; i += 4) {
    pthread_t t[4];
    for (int k = 0; k < 4; k++) pthread_create(&t[k], NULL, nothing, NULL);
    for (int k = 0; k < 4; k++) pthread_join(t[k], NULL);
  }
  return argc > 2 ? atoi(argv[2]) : 0;
}
