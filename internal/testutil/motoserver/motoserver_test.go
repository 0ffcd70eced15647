package motoserver_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

func TestMain(m *testing.M) { os.Exit(needs.Main(m)) }

func TestSharedServerAnswers(t *testing.T) {
	s := motoserver.Shared(t)
	client := secretsmanager.NewFromConfig(s.Config(t))
	name := motoserver.Unique(t, "secret")
	if _, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: new("v1"),
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	out, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &name})
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if got, want := *out.SecretString, "v1"; got != want {
		t.Errorf("secret = %q, want %q", got, want)
	}
}

// TestDynamoDBConditionalWritesAreAtomic checks the launcher's one promise:
// of many conditional writes racing on one item, no more take effect than
// DynamoDB would allow. Plain moto_server lets several "create if absent"
// puts succeed at once, and lets racing ADDs return the same count.
//
// The SDK retries a request whose answer was lost (a connection reset under
// load), so a writer whose put took effect may see its retry refused, and a
// retried ADD counts twice. The assertions hold either way, as they must
// against DynamoDB itself: at most one put reports success and it is the
// one stored; no two ADDs return the same count.
func TestDynamoDBConditionalWritesAreAtomic(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(motoserver.Shared(t).Config(t))
	table := motoserver.Unique(t, "atomic")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	const writers = 25
	// race runs write for every writer at once and returns the writers
	// whose write reported success.
	race := func(write func(i int) error) (won []int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := write(i)
				var failed *ddbtypes.ConditionalCheckFailedException
				switch {
				case err == nil:
					mu.Lock()
					won = append(won, i)
					mu.Unlock()
				case errors.As(err, &failed):
				default:
					t.Errorf("writer %d: %v", i, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		return won
	}
	for round := range 20 {
		pk := "item-" + strconv.Itoa(round)
		key := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}
		won := race(func(i int) error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(table),
				Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk},
					"n": &ddbtypes.AttributeValueMemberN{Value: "0"}, "owner": &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(i)}},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			})
			return err
		})
		got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil || got.Item == nil {
			t.Fatalf("round %d: GetItem after the puts: %v", round, err)
		}
		owner := got.Item["owner"].(*ddbtypes.AttributeValueMemberN).Value
		switch {
		case len(won) > 1:
			t.Errorf("round %d: %d of %d create-if-absent puts succeeded (%v), want at most 1", round, len(won), writers, won)
		case len(won) == 1 && strconv.Itoa(won[0]) != owner:
			t.Errorf("round %d: writer %d's put succeeded but writer %s's is stored", round, won[0], owner)
		case len(won) == 0:
			t.Logf("round %d: the winning put (writer %s) saw only its retry's refusal", round, owner)
		}
		var mu sync.Mutex
		returned := map[string]int{}
		won = race(func(i int) error {
			out, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(table),
				Key:                       key,
				UpdateExpression:          aws.String("ADD n :one"),
				ConditionExpression:       aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": &ddbtypes.AttributeValueMemberN{Value: "1"}},
				ReturnValues:              ddbtypes.ReturnValueUpdatedNew,
			})
			if err == nil {
				mu.Lock()
				returned[out.Attributes["n"].(*ddbtypes.AttributeValueMemberN).Value]++
				mu.Unlock()
			}
			return err
		})
		if len(won) != writers {
			t.Errorf("round %d: %d of %d ADDs succeeded, want all", round, len(won), writers)
		}
		for n, times := range returned {
			if times > 1 {
				t.Errorf("round %d: %d racing ADDs returned the same count %s: an update saw another's result", round, times, n)
			}
		}
	}
}
